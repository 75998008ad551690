"""Writes of the Client App, one module per job; each write is one transaction and its events
leave through :data:`publisher` (the Client App's outbox).

* :mod:`.pricing` -- what an order costs, from the menu (no writes).
* :mod:`.placing` -- ``order_place``: price, create, announce ``OrderPlaced``; idempotent by key.
* :mod:`.cancelling` -- ``order_request_cancel``: ask the kitchen.
* :mod:`.tracking` -- apply what the kitchen and the courier announce (run by the consumer).
* :mod:`.notifying` -- customer emails: queued with the status, sent by the ``mailer`` job.
* :mod:`.accounts` -- customer accounts and their API tokens.
"""

from common.deployment import CLIENT
from common.publishing import Publisher

from ..models import OutboxMessage

publisher = Publisher(CLIENT, OutboxMessage)
