"""Routing: recipient OrganId -> route (DESIGN §2 "Routing").

Rules:
1. A direct peer named in the config (``[[peers]]``) wins; then the store's ``peers`` table
   (routes added through the API or synced from the axis directory later).
2. A recipient without a direct peer goes to the default axis when one is configured;
   otherwise it is refused with ``unknown_recipient`` BEFORE anything is queued.
3. A route is fixed at submission and stored on the delivery row as text (``direct:<url>`` or
   ``axis``), so a later config change never re-routes a packet already queued.
4. :func:`directory_entries` is what a clerk or operator sees (``docnode peers``, ``GET
   /api/v1/directory``): every OrganId this node knows of, from the config, the store's
   ``peers`` and the axis directory (the store's ``agencies``), each with the route rule 1-2
   would give it. An OrganId the axis lists is shown even when a direct peer serves it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from docnode.config import PeerSettings
from docnode.errors import UnknownRecipient
from docnode.store import Agency, Peer


class RouteKind(StrEnum):
    DIRECT = "direct"
    AXIS = "axis"


@dataclass(frozen=True, slots=True)
class Route:
    kind: RouteKind
    url: str | None = None
    """Base URL of a direct peer (``None`` for the axis)."""

    def __str__(self) -> str:
        return f"direct:{self.url}" if self.kind is RouteKind.DIRECT else "axis"

    @classmethod
    def parse(cls, text: str) -> Route:
        """The route stored on a delivery row (rule 3)."""
        if text == "axis":
            return cls(RouteKind.AXIS)
        kind, sep, url = text.partition(":")
        if kind != "direct" or not sep or not url:
            raise UnknownRecipient(f"unknown stored route {text!r}")
        return cls(RouteKind.DIRECT, url)


class Directory:
    """Where packets for each OrganId go (rules 1, 2)."""

    def __init__(
        self,
        peers: Sequence[PeerSettings],
        *,
        axis_configured: bool = False,
        stored: Mapping[str, str] | None = None,
    ) -> None:
        self._config = MappingProxyType(
            {oid: peer.url for peer in peers for oid in peer.organ_ids}
        )
        self._peers = tuple(peers)
        self._peer_settings = {oid: peer for peer in peers for oid in peer.organ_ids}
        self._stored: Mapping[str, str] = MappingProxyType(dict(stored or {}))
        self._axis = axis_configured

    def update_stored(self, stored: Mapping[str, str]) -> None:
        """Replace the routes read from the store's ``peers`` table."""
        self._stored = MappingProxyType(dict(stored))

    def peer_settings(self, organ_id: str) -> PeerSettings | None:
        """The config entry of a direct peer (TLS options), when it has one."""
        return self._peer_settings.get(organ_id)

    def route(self, organ_id: str) -> Route:
        url = self._config.get(organ_id) or self._stored.get(organ_id)
        if url:
            return Route(RouteKind.DIRECT, url)
        if self._axis:
            return Route(RouteKind.AXIS)
        raise UnknownRecipient(
            f"no route to {organ_id}: no direct peer and no axis configured",
            detail={"organ_id": organ_id},
        )

    def entries(self, *, stored: Sequence[Peer],
                agencies: Sequence[Agency]) -> list[DirectoryEntry]:
        """Rule 4 for this node's config peers and axis setting."""
        return directory_entries(self._peers, stored=stored, agencies=agencies,
                                 axis_configured=self._axis)

    def routes(self, organ_ids: Sequence[str]) -> dict[str, Route]:
        """Routes for all recipients, or ``unknown_recipient`` naming every one missing."""
        found: dict[str, Route] = {}
        missing: list[str] = []
        for oid in organ_ids:
            try:
                found[oid] = self.route(oid)
            except UnknownRecipient:
                missing.append(oid)
        if missing:
            raise UnknownRecipient(
                f"no route to {', '.join(missing)}", detail={"organ_ids": missing}
            )
        return found


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One OrganId this node can address (rule 4)."""

    organ_id: str
    name: str
    route: str
    """``direct:<url>`` or ``axis`` (rules 1-2)."""
    sources: tuple[str, ...]
    """Where the node learnt of it: ``config``, ``api``/``store`` (the ``peers`` table's
    ``source``) and/or ``axis`` (the axis directory)."""
    mail: str = ""
    parent: str = ""
    synced_at: str = field(default="")
    """When the axis last listed it (ISO 8601), if it did."""

    def to_json(self) -> dict[str, object]:
        return {"organ_id": self.organ_id, "name": self.name, "route": self.route,
                "sources": list(self.sources), "mail": self.mail, "parent": self.parent,
                "synced_at": self.synced_at or None}


def directory_entries(
    peers: Sequence[PeerSettings], *, stored: Sequence[Peer], agencies: Sequence[Agency],
    axis_configured: bool,
) -> list[DirectoryEntry]:
    """Rule 4: config peers, stored peers and axis agencies merged by OrganId, sorted."""
    names: dict[str, str] = {}
    sources: dict[str, list[str]] = {}
    routes: dict[str, str] = {}
    listed: dict[str, Agency] = {}

    def seen(organ_id: str, source: str, name: str) -> None:
        sources.setdefault(organ_id, [])
        if source not in sources[organ_id]:
            sources[organ_id].append(source)
        if name and not names.get(organ_id):
            names[organ_id] = name

    for peer in peers:
        for oid in peer.organ_ids:
            seen(oid, "config", peer.name)
            routes.setdefault(oid, f"direct:{peer.url}")
    for row in stored:
        seen(row.organ_id, row.source or "store", row.name)
        routes.setdefault(row.organ_id, f"direct:{row.url}")
    for agency in agencies:
        seen(agency.organ_id, "axis", agency.name)
        listed[agency.organ_id] = agency
    entries = []
    for oid in sorted(sources):
        route = routes.get(oid) or ("axis" if axis_configured else "none")
        axis_row = listed.get(oid)
        entries.append(DirectoryEntry(
            organ_id=oid, name=names.get(oid, ""), route=route, sources=tuple(sources[oid]),
            mail=axis_row.mail if axis_row else "", parent=axis_row.parent if axis_row else "",
            synced_at=axis_row.synced_at.isoformat() if axis_row else ""))
    return entries
