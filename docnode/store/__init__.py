"""The node's store (DESIGN §3, §4, §5): tables, migrations, blobs and the unit of work.

Typical use (service layer)::

    store = await Store.from_settings(settings.store)      # migrates to the newest schema
    sha = await store.blobs.put(packet)                    # bytes first (blobs rule 1)
    async with store.transaction() as tx:                  # then one atomic change
        doc = await tx.add_document(direction=Direction.OUT, kind=DocumentKind.EDOC, ...)
        dlv = await tx.add_delivery(document_id=doc.id, recipient_organ_id=..., route=..., now=now)
        await tx.enqueue(WorkKind.DELIVER_EDOC, dlv.id, now=now)
        await tx.append_event(kind=EventKind.SUBMITTED, at=now, actor="clerk:…",
                              document_id=doc.id)

The hot use cases (submit, receive, delivered, the queue's claim) write through synchronous
units instead, a whole group-commit batch in one call on the store's thread
(:meth:`Store.write_batch`, :class:`docnode.store.sync_tx.SyncTransaction`, store rule 8)::

    doc_id = await store.run_sync(lambda tx: tx.add_document(direction=Direction.OUT, ...))
"""

from docnode.errors import BlobIntegrityError
from docnode.store.blobs import BlobStore, FilesystemBlobStore, sha256_hex
from docnode.store.chain import GENESIS_HASH, ChainProblem, ChainReport
from docnode.store.engine import async_url, create_engine
from docnode.store.enums import (
    DELIVERY_TRANSITIONS,
    DeliveryState,
    Direction,
    DocumentKind,
    EventKind,
    OutboxState,
    Verification,
    WorkKind,
)
from docnode.store.migrate import current_revision, head_revision, migrate, migrate_engine
from docnode.store.repository import Store, Transaction
from docnode.store.tables import (
    TABLES,
    Agency,
    Delivery,
    Document,
    Event,
    EventChainHead,
    IdempotencyKey,
    InboxEntry,
    OutboxItem,
    Peer,
    Receipt,
    ReceivedStatus,
)

__all__ = [
    "DELIVERY_TRANSITIONS",
    "GENESIS_HASH",
    "TABLES",
    "Agency",
    "BlobIntegrityError",
    "BlobStore",
    "ChainProblem",
    "ChainReport",
    "Delivery",
    "DeliveryState",
    "Direction",
    "Document",
    "DocumentKind",
    "Event",
    "EventChainHead",
    "EventKind",
    "FilesystemBlobStore",
    "IdempotencyKey",
    "InboxEntry",
    "OutboxItem",
    "OutboxState",
    "Peer",
    "Receipt",
    "ReceivedStatus",
    "Store",
    "Transaction",
    "Verification",
    "WorkKind",
    "async_url",
    "create_engine",
    "current_revision",
    "head_revision",
    "migrate",
    "migrate_engine",
    "sha256_hex",
]
