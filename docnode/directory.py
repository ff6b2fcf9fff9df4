"""Routing: recipient OrganId -> route (DESIGN §2 "Routing").

Rules:
1. A direct peer named in the config (``[[peers]]``) wins; then the store's ``peers`` table
   (routes added through the API or synced from the axis directory later).
2. A recipient without a direct peer goes to the default axis when one is configured;
   otherwise it is refused with ``unknown_recipient`` BEFORE anything is queued.
3. A route is fixed at submission and stored on the delivery row as text (``direct:<url>`` or
   ``axis``), so a later config change never re-routes a packet already queued.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from docnode.config import PeerSettings
from docnode.errors import UnknownRecipient


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
