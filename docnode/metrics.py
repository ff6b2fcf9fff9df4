"""Prometheus ``/metrics`` of a node (issue 9), on the api listener.

Rules:
1. The store is the source of truth (DESIGN §5): document counts, queue depth, the age of the
   oldest queued item and the delivery latency histogram are read from it at scrape time, so
   they are right after a restart and across several worker processes.
2. What only the receiving process sees is counted in-process: packets received by outcome
   and verification failures by ``code`` (:class:`MeteredReceiver` wraps the receive use case;
   the direct listener's code is not touched).
3. Each node has its own ``CollectorRegistry`` (no global default registry: two nodes in one
   test process must not share counters).
4. Labels are bounded sets: codes from the one error registry, states and status codes from
   the store's enums, certificate roles; never document ids or free text (a certificate
   subject is bounded by the configured trust material).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from cryptography import x509
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from docnode import errors
from docnode.store import Store
from docnode.transport.direct_server import PacketReceiver, PeerInfo, ReceiveOutcome
from envelopes.errors import EnvelopeError
from envelopes.model import StatusCode
from keystore.errors import KeystoreError

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0,
                   6 * 3600.0, 86400.0, 7 * 86400.0)
"""Seconds from ``queued`` to ``delivered`` (retries over a week end in ``expired``)."""

_VERIFICATION_ERRORS = (EnvelopeError, KeystoreError, errors.SenderMismatch,
                        errors.StalePacket, errors.DuplicateConflict)


@dataclass(frozen=True, slots=True)
class LatencySnapshot:
    buckets: tuple[tuple[float, int], ...] = ()
    """(upper bound, cumulative count) pairs, without +Inf."""
    count: int = 0
    total_s: float = 0.0


class _LatencyCollector(Collector):
    """Renders the last latency snapshot read from the store (rule 1)."""

    def __init__(self) -> None:
        self.snapshot = LatencySnapshot()

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            "docnode_delivery_latency_seconds",
            "Time from queued to delivered, per delivery (from the store's events)")
        snap = self.snapshot
        family.add_metric([], [(str(b), c) for b, c in snap.buckets] + [("+Inf", snap.count)],
                          snap.total_s)
        yield family


class NodeMetrics:
    """The node's metrics (rule 3)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.received = Counter("docnode_documents_received_total",
                                "Packets received on the direct listener, by outcome",
                                ["outcome"], registry=r)
        self.verification_failures = Counter(
            "docnode_verification_failures_total",
            "Incoming packets refused by verification, by error code", ["code"], registry=r)
        self.documents = Gauge("docnode_documents",
                               "Documents in the store: outgoing deliveries by state, received "
                               "documents by the latest status sent back",
                               ["direction", "status"], registry=r)
        self.queue_items = Gauge("docnode_queue_items", "Work items in the queue, by state",
                                 ["state"], registry=r)
        self.queue_oldest = Gauge("docnode_queue_oldest_age_seconds",
                                  "Age of the oldest ready or leased work item", registry=r)
        self.certificate_days = Gauge("docnode_certificate_days_to_expiry",
                                      "Days until a certificate's notAfter (negative: expired)",
                                      ["role", "subject"], registry=r)
        self._latency = _LatencyCollector()
        r.register(self._latency)

    # --- rule 2 ------------------------------------------------------------------------

    def count_received(self, *, duplicate: bool) -> None:
        self.received.labels("duplicate" if duplicate else "accepted").inc()

    def count_refused(self, error: BaseException) -> None:
        self.received.labels("refused").inc()
        if isinstance(error, _VERIFICATION_ERRORS):
            self.verification_failures.labels(errors.spec_for(error).code).inc()

    # --- rule 1 ------------------------------------------------------------------------

    async def refresh(self, store: Store, *, now: datetime,
                      certificates: Sequence[tuple[str, x509.Certificate]]) -> None:
        """Read the store and the certificates into the gauges and the histogram."""
        from docnode.queue import SqlQueue

        async with store.reader() as tx:
            out_rows = (await tx.session.execute(text(
                "SELECT state, COUNT(*) FROM deliveries GROUP BY state"))).all()
            in_rows = (await tx.session.execute(text(
                "SELECT status_code, COUNT(*) FROM inbox GROUP BY status_code"))).all()
            latency = await _latency(tx.session, store)
        self.documents.clear()
        for state, n in out_rows:
            self.documents.labels("out", str(state)).set(n)
        for code, n in in_rows:
            self.documents.labels("in", _status_name(code)).set(n)
        stats = await SqlQueue(store).stats(now=now)
        self.queue_items.clear()
        for state, n in (("ready", stats.ready), ("due", stats.due), ("leased", stats.leased),
                         ("dead", stats.dead)):
            self.queue_items.labels(state).set(n)
        self.queue_oldest.set(stats.oldest_age_s)
        self._latency.snapshot = latency
        self.certificate_days.clear()
        for role, cert in certificates:
            days = (cert.not_valid_after_utc - now) / timedelta(days=1)
            self.certificate_days.labels(role, cert.subject.rfc4514_string()).set(round(days, 3))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _status_name(code: object) -> str:
    if code is None:
        return "none"
    try:
        return StatusCode(str(code)).name.lower()
    except ValueError:
        return "other"


async def _latency(session: AsyncSession, store: Store) -> LatencySnapshot:
    """Cumulative bucket counts of (delivered.at - queued.at) per delivery, in SQL."""
    if store.engine.dialect.name == "sqlite":
        seconds = "(julianday(d.at) - julianday(q.at)) * 86400.0"
    else:
        seconds = "EXTRACT(EPOCH FROM (d.at - q.at))"
    sums = ", ".join(
        f"COALESCE(SUM(CASE WHEN {seconds} <= {b!r} THEN 1 ELSE 0 END), 0)"
        for b in LATENCY_BUCKETS)
    # The bucket bounds are our own float constants, not input: nothing here is injectable.
    sql = (f"SELECT COUNT(*), COALESCE(SUM({seconds}), 0), {sums} "  # noqa: S608
           "FROM events d JOIN events q ON q.delivery_id = d.delivery_id "
           "AND q.kind = 'queued' WHERE d.kind = 'delivered'")
    row = (await session.execute(text(sql))).one()
    count, total, *cumulative = row
    return LatencySnapshot(tuple(zip(LATENCY_BUCKETS, (int(c) for c in cumulative),
                                     strict=True)), int(count), float(total))


class MeteredReceiver:
    """A :class:`PacketReceiver` that counts outcomes of the one it wraps (rule 2)."""

    def __init__(self, inner: PacketReceiver, metrics: NodeMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def receive(self, data: bytes, *, peer: PeerInfo) -> ReceiveOutcome:
        try:
            outcome = await self._inner.receive(data, peer=peer)
        except Exception as exc:
            self._metrics.count_refused(exc)
            raise
        self._metrics.count_received(duplicate=outcome.duplicate)
        return outcome


METRICS = web.AppKey("docnode.metrics", NodeMetrics)


def metrics_response(metrics: NodeMetrics) -> web.Response:
    response = web.Response(body=metrics.exposition())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
