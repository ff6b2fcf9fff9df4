"""``GET /api/v1/directory``: the OrganIds a clerk can send to (``docnode.directory`` rule 4).

Config peers, stored peers and the axis directory (kept by ``docnode.axis_poller``'s sync),
each with its route, so the page can offer recipients by name. ``q`` filters by OrganId or
name (case-insensitive substring); the list is bounded by ``limit`` (default 500).
"""

from __future__ import annotations

from aiohttp import web

from docnode.api.context import context_of
from docnode.api.render import json_response
from docnode.api.upload import fail

MAX_LIMIT = 5000


async def directory(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    query = request.query.get("q", "").strip().casefold()
    text = request.query.get("limit", "500")
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        fail([{"field": "limit", "message": f"an integer from 1 to {MAX_LIMIT}"}])
    async with ctx.store.reader() as tx:
        stored, agencies = await tx.list_peers(), await tx.list_agencies()
    entries = ctx.service.directory.entries(stored=stored, agencies=agencies)
    if query:
        entries = [e for e in entries
                   if query in e.organ_id.casefold() or query in e.name.casefold()]
    limit = int(text)
    return json_response({"items": [e.to_json() for e in entries[:limit]],
                          "total": len(entries)})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/directory", directory)
