"""The platform's two failure classes for messages -- and there is no third -- plus the one error
type for requests the domain refuses.

* :class:`InvalidEvent`: the message can never be processed (malformed,
  unknown type or version, breaks the schema, refers to something that cannot
  exist). The consumer sends it to ``<topic>.DLT`` and commits past it.
* Anything else raised while handling a message is transient (database down,
  lock timeout, a bug fixed by the next deploy): the consumer retries the same
  message in place with back-off and never commits past it.
"""


class InvalidEvent(Exception):
    """Raised for a message that can never succeed; it is dead-lettered, never retried."""


class ConsumerHalted(Exception):
    """Not a message failure but a worker one: carrying on would do harm (e.g. most recent messages
    are invalid, which means a bug or a bad deploy, not bad data). ``runconsumers`` stops every
    worker and exits non-zero instead of restarting, so an operator looks before anything is lost."""


class DomainError(Exception):
    """A request the domain refuses (not a message failure: consumers never see these).

    Services raise a subclass that states its HTTP meaning -- ``status`` and a stable ``code``
    -- and :func:`common.http.exception_handler` renders it in the one error shape, so views
    need no try/except. ``field`` names the offending input; ``errors`` may list several.
    """

    status: int = 400
    code: str = "invalid"

    def __init__(self, message: str, *, field: str | None = None, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = errors if errors is not None else ({field: [message]} if field else {})
