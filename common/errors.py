"""The platform's two failure classes -- and there is no third.

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
