"""The durable work queue: its protocol, values and retry policy (DESIGN §4, §5, §6).

Rules:
1. The store is the single source of truth. Items are ENQUEUED inside the use case's store
   transaction (:meth:`docnode.store.Transaction.enqueue`, the transactional outbox), so an
   item exists iff the use case committed. An item carries a kind and a row id, never a
   payload copy; a broker backend (``amqp``, issue 8) relays outbox rows and carries only ids.
2. A worker CLAIMS items under a lease. Two workers never hold the same item; an item whose
   lease expired (crashed worker) is claimed again. Every claim counts as an attempt, so an
   item that crashes its worker cannot loop forever.
3. The OUTCOME (complete / retry / dead-letter) is written in the same store transaction that
   records the delivery's new state and event (the ``tx`` argument), so queue and delivery
   never disagree. A worker whose lease was taken over gets ``LeaseLost`` and its whole
   transaction rolls back: the new lease holder decides.
4. Time is a parameter (``now``); delays and ages are seconds.

Backends: :class:`docnode.queue.sql.SqlQueue` (the ``outbox`` table, one ``UPDATE …
RETURNING`` per claim; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and
:class:`docnode.queue.amqp.AmqpQueue` (RabbitMQ carries the outbox row ids, published by the
:mod:`docnode.queue.relay`; :mod:`docnode.queue.amqp_link` holds the broker connection);
:func:`docnode.queue.backend.open_queue` builds the one ``[queue]`` asks for.
"""

from docnode.queue.model import Queue, QueueItem, QueueStats, RetryDecision, RetryPolicy
from docnode.queue.sql import SqlQueue

__all__ = [
    "Queue",
    "QueueItem",
    "QueueStats",
    "RetryDecision",
    "RetryPolicy",
    "SqlQueue",
]
