"""The axis's use cases: accept a packet, fan it out, serve polls, track acknowledgements.

Rules (DESIGN §1, §5, §7):
1. sendEdoc answers OK only after the packet's blob(s) are written and ONE transaction has
   committed the message, one copy per recipient, its hop record and the request's replay-cache
   entry. A crash before the commit leaves nothing (the sender retries); after it, the sender's
   retry of the same bytes finds the message by (From, packet SHA-256) and gets the SAME DocId:
   nothing lost, nothing duplicated.
2. Every packet is verified with the ONE receive-path verification
   (``docnode.verification.check_packet``), with the axis's signature policy (``required`` by
   default; ``legacy-allowed`` accepts unsigned packets from this authenticated connection,
   marked unverified). Its From/OrganId must be one the sending system owns.
3. Recipients come from the SIGNED packet (edoc: To; status: ResponseFor/OrganId), never from
   the ``to`` header alone: the SDK re-sends a stale ``to`` from an earlier call (spec §3.6).
   Each recipient a registered system owns gets a copy; one nobody here owns is skipped (a
   sender with mixed routes reaches it directly) unless ``to`` names it; if none is served,
   ``unknown_recipient`` and nothing is kept. The same packet sent again adds copies for
   recipients that lack one (one sendEdoc per recipient is how our own client sends), and
   answers the same DocId.
4. A signed packet is served byte for byte; only an unsigned legacy edoc gets the axis's
   TraceHeader (``docnode.axis.trace``).
5. A copy stays listed until its recipient acknowledges ``done``. ``fail`` counts; the copy is
   listed again after ``fail_retry_s``, and after ``max_fail_acks`` it is ``dead``. A copy
   fetched but never acknowledged (the recipient crashed) is simply listed again.
6. A byte-identical replay of a sendEdoc (same HMAC) is ``replayed_request``; the cache entry
   is written with the message (rule 1), so it survives restarts.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select
from sqlmodel import col

from docnode import errors
from docnode.axis.secrets import SecretSealer
from docnode.axis.tables import (
    AxisCopy,
    AxisHop,
    AxisMessage,
    AxisOrgan,
    AxisSeenRequest,
    AxisSystem,
    CopyState,
)
from docnode.axis.timestamps import DEFAULT_WINDOW, ClientTimestamps
from docnode.axis.trace import append_trace_header
from docnode.clock import Clock
from docnode.logging import get_logger
from docnode.offload import Offloader
from docnode.store import Store
from docnode.transport.vxp_protocol import AckStatus, MessageType
from docnode.verification import VerificationContext, check_packet, verified_from
from envelopes.model import Edoc, StatusMessage

log = get_logger("axis")

MAX_LISTED = 500
"""Copies listed per getReceivedEdocList (oldest first); the next poll lists the rest."""


@dataclass(frozen=True, slots=True)
class AxisPolicy:
    max_fail_acks: int = 5
    """``fail`` acknowledgements before a copy is dead (rule 5)."""
    fail_retry_s: float = 0.0
    """Delay before a failed copy is listed again."""
    organ_id: str | None = None
    """The axis's own OrganId, written in TraceHeaders of legacy packets."""
    timestamp_window: timedelta | None = DEFAULT_WINDOW
    """How far from the axis's clock a system's NEW request timestamp may be
    (``docnode.axis.timestamps``); ``None``: never checked."""


DEFAULT_AXIS_POLICY = AxisPolicy()


@dataclass(frozen=True, slots=True)
class Registration:
    system_id: str
    organ_ids: tuple[str, ...]


def _fmt(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S")


class AxisHub:
    """The axis's state machine over the store (rules above)."""

    def __init__(
        self,
        *,
        store: Store,
        sealer: SecretSealer,
        verification: VerificationContext,
        clock: Clock,
        offloader: Offloader,
        policy: AxisPolicy = DEFAULT_AXIS_POLICY,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._verification = verification
        self._clock = clock
        self._offloader = offloader
        self._policy = policy
        self._secrets: dict[str, bytes] = {}
        self.timestamps = ClientTimestamps(store, clock, window=policy.timestamp_window)

    # --- systems ------------------------------------------------------------------------

    async def register_system(
        self, system_id: str, secret: bytes, organ_ids: Sequence[str], *,
        names: Mapping[str, str] | None = None, name: str = "",
    ) -> Registration:
        """:func:`register_system`, then the secret is usable at once."""
        result = await register_system(self._store, self._sealer, system_id, secret, organ_ids,
                                       names=names, name=name, now=self._clock.now())
        self._secrets[system_id] = secret
        return result

    @property
    def has_systems(self) -> bool:
        return bool(self._secrets)

    async def load_secrets(self) -> int:
        """Open every sealed secret into memory (the HMAC check is synchronous)."""
        async with self._store.reader() as tx:
            rows = (await tx.session.execute(select(AxisSystem))).scalars().all()
        self._secrets = {r.system_id: self._sealer.open(r.system_id, r.secret_sealed)
                         for r in rows}
        return len(self._secrets)

    def secret_for(self, system_id: str) -> bytes | None:
        return self._secrets.get(system_id)

    # --- sendEdoc -----------------------------------------------------------------------

    async def accept(
        self, *, system_id: str, packet: bytes, replay_key: str, declared_type: str | None,
        requested: Sequence[str] = (),
    ) -> str:
        """sendEdoc: verify, store, fan out; the DocId (rules 1-4, 6). ``requested`` is the
        request's ``to`` (possibly stale, rule 3)."""
        now = self._clock.now()
        async with self._store.reader() as tx:
            if await tx.session.get(AxisSeenRequest, (system_id, replay_key)) is not None:
                raise errors.ReplayedRequest("this signed request was received before")
        outcome = await self._offloader.in_thread(
            check_packet, packet, context=self._verification, at=now, authenticated_axis=True,
            check_freshness=True)  # DESIGN §7: stale or far-future packets stop at the axis too
        verified = verified_from(outcome)
        message = verified.packet
        kind = MessageType.STATUS if isinstance(message, StatusMessage) else MessageType.EDOC
        if declared_type and declared_type != kind.value:
            raise errors.AxisRequestInvalid(
                f"messagetype {declared_type!r} but the packet is a {kind.value}",
                detail={"messagetype": declared_type})
        sender = verified.sender
        owners = await self._owners([sender, *_recipients(message)])
        if owners.get(sender) != system_id:
            raise errors.Forbidden(f"system {system_id} may not send as {sender}",
                                   detail={"organ_id": sender, "system_id": system_id})
        recipients = _route(_recipients(message), requested, owners)
        served = packet
        if verified.unverified and kind is MessageType.EDOC:
            served = await self._offloader.in_thread(
                append_trace_header, packet, organ_id=self._policy.organ_id, at=now,
                limits=self._verification.limits, lenient=self._verification.lenient)
        packet_sha = await self._store.blobs.put(packet)
        served_sha = packet_sha if served is packet else await self._store.blobs.put(served)
        async with self._store.transaction() as tx:
            s = tx.session
            # Checked again under the write lock: two copies of one request racing each other.
            if await s.get(AxisSeenRequest, (system_id, replay_key)) is not None:
                raise errors.ReplayedRequest("this signed request was received before")
            msg = (await s.execute(select(AxisMessage).where(
                col(AxisMessage.from_organ_id) == sender,
                col(AxisMessage.packet_sha256) == packet_sha))).scalars().first()
            duplicate = msg is not None
            if msg is None:
                msg = _message_row(message, kind, system_id=system_id, sender=sender,
                                   packet_sha=packet_sha, served_sha=served_sha,
                                   size=len(packet), unverified=verified.unverified, now=now)
                s.add(msg)
                await s.flush()
            have = set((await s.execute(select(col(AxisCopy.recipient_organ_id)).where(
                col(AxisCopy.message_id) == msg.id))).scalars().all())
            added = [r for r in recipients if r not in have]
            for rcpt in added:
                s.add(AxisCopy(id=str(uuid.uuid4()), message_id=msg.id, recipient_organ_id=rcpt,
                               recipient_system_id=owners[rcpt], message_type=kind.value,
                               state=CopyState.PENDING, visible_at=now, created_at=now,
                               updated_at=now))
            if added or not duplicate:
                s.add(AxisHop(message_id=msg.id, kind="received", at=now, actor=system_id,
                              detail=",".join(added)))
            s.add(AxisSeenRequest(system_id=system_id, replay_key=replay_key,
                                  message_id=msg.id, seen_at=now))
            doc_id = msg.id
        log.info("axis_duplicate_send" if duplicate else "axis_received", doc_id=doc_id,
                 organ_id=sender, kind=kind.value, recipients=added,
                 unverified=verified.unverified)
        return doc_id

    async def prune_seen(self, *, older_than: timedelta) -> int:
        """Forget replay-cache entries older than ``older_than``. Safe: a replay of a pruned
        request finds its message by (From, packet SHA-256) and gets the same DocId again,
        creating no copy (rule 1)."""
        cutoff = self._clock.now() - older_than
        async with self._store.transaction() as tx:
            result = await tx.session.execute(
                delete(AxisSeenRequest).where(col(AxisSeenRequest.seen_at) < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def _owners(self, organ_ids: Sequence[str]) -> dict[str, str]:
        async with self._store.reader() as tx:
            rows = (await tx.session.execute(select(AxisOrgan).where(
                col(AxisOrgan.organ_id).in_(set(organ_ids))))).scalars().all()
        return {r.organ_id: r.system_id for r in rows}

    # --- polls --------------------------------------------------------------------------

    def _visible(self, system_id: str, message_type: str) -> list[ColumnElement[bool]]:
        return [col(AxisCopy.recipient_system_id) == system_id,
                col(AxisCopy.message_type) == message_type,
                col(AxisCopy.state) == CopyState.PENDING,
                col(AxisCopy.visible_at) <= self._clock.now()]

    async def received(self, system_id: str, message_type: str) -> list[dict[str, str]]:
        """getReceivedEdocList: the copies waiting for this system."""
        async with self._store.reader() as tx:
            rows = (await tx.session.execute(
                select(AxisCopy, AxisMessage).join(
                    AxisMessage, col(AxisMessage.id) == col(AxisCopy.message_id))
                .where(*self._visible(system_id, message_type))
                .order_by(col(AxisCopy.created_at), col(AxisCopy.id))
                .limit(MAX_LISTED))).all()
        return [{"docId": c.id, "serviceType": "eDoc", "messageType": c.message_type,
                 "created_time": _fmt(c.created_at), "updated_time": _fmt(c.updated_at),
                 "from": m.from_organ_id, "to": c.recipient_organ_id, "status": c.state.value,
                 "status_desc": _desc(c, m)} for c, m in rows]

    async def count(self, system_id: str, message_type: str) -> int:
        async with self._store.reader() as tx:
            value = (await tx.session.execute(
                select(func.count()).select_from(AxisCopy)
                .where(*self._visible(system_id, message_type)))).scalar_one()
        return int(value)

    async def fetch(self, system_id: str, doc_id: str) -> bytes:
        """getEdoc: the bytes of one of this system's copies (recorded as a hop)."""
        now = self._clock.now()
        async with self._store.transaction() as tx:
            copy = await tx.session.get(AxisCopy, doc_id)
            if copy is None or copy.recipient_system_id != system_id:
                raise errors.NotFound("no such document for this system",
                                      detail={"doc_id": doc_id})
            msg = await tx.session.get(AxisMessage, copy.message_id)
            if msg is None:
                raise errors.InternalError("copy without its message")
            copy.fetches += 1
            copy.fetched_at = now
            tx.session.add(AxisHop(message_id=msg.id, copy_id=copy.id, kind="fetched", at=now,
                                   actor=system_id))
            served = msg.served_sha256
        return await self._store.blobs.get(served)

    async def acknowledge(self, system_id: str, doc_id: str, status: str) -> None:
        """updateStatus: done / fail / processing (rule 5)."""
        try:
            ack = AckStatus(status.lower())
        except ValueError as exc:
            raise errors.AxisRequestInvalid(f"unknown status {status!r}",
                                            detail={"status": status}) from exc
        now = self._clock.now()
        async with self._store.transaction() as tx:
            copy = await tx.session.get(AxisCopy, doc_id)
            if copy is None or copy.recipient_system_id != system_id:
                raise errors.NotFound("no such document for this system",
                                      detail={"doc_id": doc_id})
            kind = f"ack_{ack.value}"
            if copy.state is CopyState.PENDING and ack is AckStatus.DONE:
                copy.state, copy.acked_at, copy.last_error = CopyState.DONE, now, None
            elif copy.state is CopyState.PENDING and ack is AckStatus.FAIL:
                copy.fail_acks += 1
                copy.last_error = "recipient acknowledged fail"
                if copy.fail_acks >= self._policy.max_fail_acks:
                    copy.state, kind = CopyState.DEAD, "dead"
                else:
                    copy.visible_at = now + timedelta(seconds=self._policy.fail_retry_s)
            copy.updated_at = now
            tx.session.add(AxisHop(message_id=copy.message_id, copy_id=copy.id, kind=kind,
                                   at=now, actor=system_id))
        log.info("axis_ack", doc_id=doc_id, ack=ack.value, state=copy.state.value)

    async def sent(
        self, system_id: str, message_type: str, doc_id: str | None
    ) -> list[dict[str, str]]:
        """getSentEdocList: per-recipient progress of this system's sends."""
        query = (select(AxisCopy, AxisMessage)
                 .join(AxisMessage, col(AxisMessage.id) == col(AxisCopy.message_id))
                 .where(col(AxisMessage.sender_system_id) == system_id,
                        col(AxisMessage.message_type) == message_type))
        if doc_id:
            query = query.where(col(AxisMessage.id) == doc_id)
        async with self._store.reader() as tx:
            rows = (await tx.session.execute(
                query.order_by(col(AxisMessage.received_at), col(AxisCopy.id)))).all()
        return [{"serviceType": "eDoc", "messageType": m.message_type, "senderDocId": m.id,
                 "receiverDocId": c.id, "fromCode": m.from_organ_id,
                 "toCode": c.recipient_organ_id, "title": m.title, "notation": m.notation,
                 "sentTime": _fmt(m.received_at), "receivedTime": _fmt(c.acked_at),
                 "sendStatus": "done", "sendStatusDesc": "stored by the axis",
                 "receiveStatus": c.state.value,
                 "receiveStatusDesc": "; ".join(
                     x for x in (_progress(c), _desc(c, m)) if x)} for c, m in rows]

    async def agencies(self) -> list[dict[str, str]]:
        async with self._store.reader() as tx:
            rows = (await tx.session.execute(
                select(AxisOrgan).order_by(col(AxisOrgan.organ_id)))).scalars().all()
        return [{"id": r.organ_id, "pid": r.parent, "code": r.organ_id, "name": r.name,
                 "mail": r.mail, "oldCode": ""} for r in rows]


async def register_system(
    store: Store, sealer: SecretSealer, system_id: str, secret: bytes,
    organ_ids: Sequence[str], *, names: Mapping[str, str] | None = None, name: str = "",
    now: datetime,
) -> Registration:
    """Create or update a client system and the OrganIds it speaks for (one transaction);
    an OrganId owned by another system is a ``conflict``."""
    if not system_id or not system_id.isascii() or not secret:
        raise errors.UsageError("a system id (ASCII) and a non-empty secret are required")
    async with store.transaction() as tx:
        s = tx.session
        row = await s.get(AxisSystem, system_id)
        sealed = sealer.seal(system_id, secret)
        if row is None:
            s.add(AxisSystem(system_id=system_id, secret_sealed=sealed, name=name,
                             created_at=now, updated_at=now))
        else:
            row.secret_sealed, row.updated_at = sealed, now
            row.name = name or row.name
        await s.flush()
        for oid in organ_ids:
            organ = await s.get(AxisOrgan, oid)
            if organ is not None and organ.system_id != system_id:
                raise errors.Conflict(f"OrganId {oid} already belongs to another system",
                                      detail={"organ_id": oid})
            label = (names or {}).get(oid, "")
            if organ is None:
                s.add(AxisOrgan(organ_id=oid, system_id=system_id, name=label))
            elif label:
                organ.name = label
    return Registration(system_id, tuple(organ_ids))


def _desc(c: AxisCopy, m: AxisMessage) -> str:
    # DESIGN §7: a legacy packet accepted unsigned carries its mark wherever it is shown.
    mark = "unverified (accepted unsigned, legacy-allowed)" if m.unverified else ""
    return "; ".join(x for x in (mark, c.last_error or "") if x)


def _progress(c: AxisCopy) -> str:
    if c.state is CopyState.DONE:
        return "acknowledged by the recipient"
    if c.state is CopyState.DEAD:
        return f"given up after {c.fail_acks} failed acknowledgements"
    if c.fetches:
        return f"fetched {c.fetches} time(s), {c.fail_acks} failed acknowledgement(s)"
    return "waiting for the recipient"


def _route(recipients: Sequence[str], requested: Sequence[str],
           owners: Mapping[str, str]) -> list[str]:
    """Rule 3: the packet's recipients this axis serves. One it does not serve is skipped
    (the sender may reach it another way, e.g. a direct peer) unless the request's ``to``
    names it; none served at all is ``unknown_recipient``."""
    asked = [r for r in requested if r in recipients and r not in owners]
    served = [r for r in recipients if r in owners]
    if asked or not served:
        missing = asked or [r for r in recipients if r not in owners]
        raise errors.UnknownRecipient(f"no system on this axis receives for {missing}",
                                      detail={"organ_ids": missing})
    return served


def _recipients(message: Edoc | StatusMessage) -> tuple[str, ...]:
    if isinstance(message, StatusMessage):
        organ = message.response_for.organ_id
        return () if organ is None else (str(organ),)
    return tuple(dict.fromkeys(str(o.organ_id) for o in message.to))


def _message_row(message: Edoc | StatusMessage, kind: MessageType, *, system_id: str,
                 sender: str, packet_sha: str, served_sha: str, size: int, unverified: bool,
                 now: datetime) -> AxisMessage:
    if isinstance(message, StatusMessage):
        document_id, status_code = message.response_for.document_id, message.status_code.value
        title, notation = message.description[:500], message.response_for.code
    else:
        document_id, status_code = message.document_id, None
        title, notation = message.subject[:500], str(message.code)
    return AxisMessage(id=str(uuid.uuid4()), sender_system_id=system_id, from_organ_id=sender,
                       message_type=kind.value, edxml_document_id=document_id,
                       status_code=status_code, title=title, notation=notation[:255],
                       packet_sha256=packet_sha, served_sha256=served_sha, packet_size=size,
                       unverified=unverified, received_at=now)
