"""Agency side of the VXP axis (DESIGN §2, §4): push queued packets, poll for incoming ones,
sync the directory.

Rules:
1. Outgoing: the dispatcher's worker hands a stored packet routed ``axis`` to
   :class:`AxisSender`, which calls sendEdoc (``messagetype`` from the work kind) and returns
   the axis DocId as the delivery's evidence. Errors keep their classes: ``axis_rejected`` is
   permanent, ``axis_error``/``peer_unavailable`` are retried by dispatch.
2. Incoming: :class:`AxisPoller` lists received edocs (handled a few at a time), then
   statuses (one by one, in the axis's order); fetches each; runs the
   node's FULL receive path (``NodeService.receive``: verify, bind, dedup, store) with
   ``authenticated_axis``; and only THEN acknowledges ``done``. Never before the packet is
   durably stored.
3. A packet the receive path refuses for good (malformed, bad signature, conflict…) is
   acknowledged ``fail`` (the reason is logged with its code; updateStatus carries none); a
   retryable refusal (store busy, revocation status unknown) or a fetch error is not
   acknowledged at all: the axis lists it again on the next poll.
4. A stored edoc gets a real signed 01 queued back to its sender (``docnode.service`` rule 3)
   before it is acknowledged, exactly once: a duplicate (the same bytes again after a crash or
   a lost acknowledgement) gets its 01 only if none was queued yet.
5. Directory sync: getAgenciesList on a schedule (``[axis] directory_sync_s``); the answer
   replaces the store's ``agencies`` table in one transaction, so a restart, ``docnode peers``
   and the clerk API's ``GET /api/v1/directory`` see it. Routing itself stays with
   ``docnode.directory``: every recipient without a direct peer goes to the axis, listed or
   not (the directory may lag the axis by one sync interval).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from docnode import errors
from docnode.clock import Clock
from docnode.logging import bind, get_logger
from docnode.scheduler import Job
from docnode.service import NodeService
from docnode.store import Agency, Direction, DocumentKind, Store, WorkKind
from docnode.store.tables import ORGAN_ID_LEN
from docnode.transport.direct_client import Delivery, ReceiptEvidence
from docnode.transport.direct_server import PeerInfo
from docnode.transport.vxp_client import ReceivedItem, VxpClient
from docnode.transport.vxp_protocol import AckStatus, MessageType
from envelopes.errors import EnvelopeError
from envelopes.model import Edoc, StatusCode
from envelopes.read import read_packet
from keystore.errors import KeystoreError

log = get_logger("axis_poller")

MAX_ITEMS_PER_POLL = 200
"""Bound on the work one poll does per message type (the next poll takes the rest)."""
DEFAULT_CONCURRENCY = 8
"""Packets fetched and received at the same time within one poll."""


class AxisSender:
    """``delivery.AxisDeliverer`` over a :class:`VxpClient` (rule 1)."""

    def __init__(self, client: VxpClient) -> None:
        self._client = client

    async def deliver(self, data: bytes, *, kind: WorkKind, sender: str,
                      recipient: str) -> Delivery:
        message_type = MessageType.STATUS if kind is WorkKind.DELIVER_STATUS else MessageType.EDOC
        doc_id = await self._client.send_edoc(data, from_=sender, message_type=message_type,
                                              to=[recipient])
        return Delivery(http_status=200, receipt=b"",
                        evidence=ReceiptEvidence(receipt_sha256="", signer_organ_id=""),
                        duplicate=False, axis_doc_id=doc_id)


@dataclass
class PollStats:
    listed: int = 0
    stored: int = 0
    duplicates: int = 0
    failed: int = 0
    deferred: int = 0
    codes: list[str] = field(default_factory=list)


class AxisPoller:
    """One poll = list, fetch, receive, acknowledge (rules 2-4)."""

    def __init__(self, *, client: VxpClient, service: NodeService,
                 concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self._client = client
        self._service = service
        self._concurrency = max(1, concurrency)

    async def poll_once(self) -> PollStats:
        stats = PollStats()
        gate = asyncio.Semaphore(self._concurrency)

        async def one(item: ReceivedItem) -> None:
            async with gate:
                with bind(peer="axis", axis_doc_id=item.doc_id, organ_id=item.from_):
                    await self._one(item, stats)

        for message_type in (MessageType.EDOC, MessageType.STATUS):
            items = await self._client.get_received_edoc_list(message_type)
            stats.listed += len(items)
            batch = items[:MAX_ITEMS_PER_POLL]
            if message_type is MessageType.STATUS:
                # In the axis's order (it lists by arrival): a document's 01, 03, 04 … are
                # recorded, and shown on its timeline, in the order they were sent.
                for item in batch:
                    await one(item)
            else:
                # Edocs are independent (each its own receive transaction and
                # acknowledgement); verification runs off the loop, so a few in flight use
                # the CPUs.
                await asyncio.gather(*(one(item) for item in batch))
        if stats.listed:
            log.info("axis_polled", listed=stats.listed, stored=stats.stored,
                     duplicates=stats.duplicates, failed=stats.failed, deferred=stats.deferred)
        return stats

    async def _one(self, item: ReceivedItem, stats: PollStats) -> None:
        try:
            data = await self._client.get_edoc(item.doc_id)
        except errors.PeerError as exc:
            log.warning("axis_fetch_failed", code=exc.code)
            stats.deferred += 1
            return
        try:
            outcome = await self._service.receive(
                data, peer=PeerInfo(address=f"axis:{self._client.endpoint}"),
                authenticated_axis=True)
        except (EnvelopeError, KeystoreError, errors.DocnodeError) as exc:
            spec = errors.spec_for(exc)
            stats.codes.append(spec.code)
            if spec.retryable:
                # rule 3: not acknowledged; the axis lists it again on the next poll
                log.warning("axis_receive_deferred", code=spec.code)
                stats.deferred += 1
                return
            log.warning("axis_receive_refused", code=spec.code, reason=str(exc)[:300])
            await self._ack(item, AckStatus.FAIL)
            stats.failed += 1
            return
        # rule 2: stored (committed) above; only now acknowledge
        if outcome.duplicate:
            stats.duplicates += 1
        else:
            stats.stored += 1
        if not await self._arrival(data):
            stats.deferred += 1  # stored, but its 01 is not queued yet: not acknowledged
            return
        await self._ack(item, AckStatus.DONE)

    async def _arrival(self, data: bytes) -> bool:
        """Rule 4: make sure the stored edoc's 01 is queued (once); ``False`` if it could not
        be. The packet was verified by the receive path just now; reading it again (no
        signature check) only recovers its key to find the stored rows."""
        try:
            packet = read_packet(data, lenient=True).packet
            if not isinstance(packet, Edoc):
                return True
            sender = str(packet.from_.organ_id)
            async with self._service.store.reader() as tx:
                inbox = await tx.find_inbox(sender, packet.document_id)
                sent = await tx.find_documents(packet.document_id, direction=Direction.OUT,
                                               kind=DocumentKind.STATUS)
            if inbox is None or any(d.status_code == StatusCode.ARRIVED.value
                                    and d.counterparty == sender for d in sent):
                return True  # a change stored without an inbox entry, or 01 queued already
            await self._service.queue_arrival_status(inbox.document_id)
        except (EnvelopeError, KeystoreError, errors.DocnodeError) as exc:
            # Not acknowledged: the axis lists it again, the duplicate comes back here.
            log.error("arrival_status_not_queued", code=errors.spec_for(exc).code)
            return False
        return True

    async def _ack(self, item: ReceivedItem, status: AckStatus) -> None:
        try:
            await self._client.update_status(item.doc_id, status)
        except errors.PeerError as exc:
            # The packet is stored; the axis lists it again and the duplicate is acknowledged.
            log.warning("axis_ack_failed", code=exc.code, ack=status.value)


class AxisDirectorySync:
    """getAgenciesList on a schedule, kept in the store's ``agencies`` table (rule 5)."""

    def __init__(self, client: VxpClient, store: Store, clock: Clock) -> None:
        self._client = client
        self._store = store
        self._clock = clock

    async def sync(self) -> int:
        """Ask the axis and store its answer; the number of agencies it lists. An empty
        answer while agencies are stored keeps them: an axis that lost (or has not loaded yet)
        its registry must not wipe a directory the clerks pick recipients from."""
        agencies = await self._client.get_agencies_list()
        now = self._clock.now()
        entries: dict[str, Agency] = {}
        for a in agencies:
            code = a.code.strip()
            if not code or len(code) > ORGAN_ID_LEN:
                continue  # not an OrganId this node could address; nothing to keep
            entries[code] = Agency(organ_id=code, name=a.name[:255], mail=a.mail[:255],
                                   parent=a.pid[:ORGAN_ID_LEN], axis_id=a.id[:64],
                                   synced_at=now)
        async with self._store.transaction() as tx:
            if not entries and await tx.list_agencies():
                log.warning("axis_directory_empty_kept")
                return 0
            kept, removed = await tx.replace_agencies(list(entries.values()))
        log.info("axis_directory_synced", agencies=kept, removed=removed)
        return kept


def axis_jobs(poller: AxisPoller, directory: AxisDirectorySync, *, poll_interval_s: float,
              directory_interval_s: float = 3600.0) -> list[Job]:
    """The scheduler jobs of an agency node with an ``[axis]`` section."""

    async def poll() -> None:
        await poller.poll_once()

    async def sync() -> None:
        await directory.sync()

    return [
        Job("axis_poll", poll, interval_s=poll_interval_s, run_at_start=True),
        Job("axis_directory_sync", sync, interval_s=directory_interval_s, run_at_start=True),
    ]
