"""Bearer tokens of the clerk API (DESIGN §8): issue, hash, look up, scope.

Rules:
1. A token is 32 random bytes, URL-safe base64, prefixed ``dn_`` (so a leaked one is easy to
   grep for). It is shown ONCE, by ``docnode tokens create``; the store keeps its SHA-256 only.
   A hash is enough (no slow KDF): the token has 256 bits of entropy, not a password's.
2. ``Authorization: Bearer <token>``; a missing, malformed, unknown or revoked token is
   ``unauthorized`` (401, ``WWW-Authenticate: Bearer``). A valid token acting outside its
   organisations is ``forbidden`` (403).
3. Tokens are never logged, printed (but once, at creation) or returned by the API.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlmodel import col

from docnode.api.tables import ApiToken
from docnode.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from docnode.store import Store
from envelopes.errors import EnvelopeError
from envelopes.organ import OrganId

TOKEN_PREFIX = "dn_"  # noqa: S105 - a marker prefix, not a secret
TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    """The stored form of a token (rule 1)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the token's id, its holder's name and its organisations."""

    token_id: str
    name: str
    organ_ids: tuple[str, ...]

    @property
    def actor(self) -> str:
        """The event log's actor for this caller's actions."""
        return f"clerk:{self.name}"

    def may_act_for(self, organ_id: str) -> bool:
        return organ_id in self.organ_ids

    def require(self, organ_id: str) -> None:
        """Raise ``forbidden`` unless the token covers ``organ_id`` (rule 2)."""
        if not self.may_act_for(organ_id):
            raise Forbidden(f"this token may not act for {organ_id}",
                            detail={"organ_id": organ_id})


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed (never the token itself)."""

    id: str
    name: str
    organ_ids: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.name, tuple(json.loads(row.organ_ids)), row.created_at,
                     row.revoked_at)


def _check_organs(organ_ids: Sequence[str], served: Iterable[str]) -> list[str]:
    problems: list[dict[str, str]] = []
    served_set = set(served)
    out: list[str] = []
    for i, text in enumerate(organ_ids):
        try:
            oid = str(OrganId.parse(text))
        except EnvelopeError as exc:
            problems.append({"field": f"organ_id[{i}]", "message": exc.message})
            continue
        if oid not in served_set:
            problems.append({"field": f"organ_id[{i}]",
                             "message": "not an organisation of this node"})
        out.append(oid)
    if not organ_ids:
        problems.append({"field": "organ_id", "message": "at least one is required"})
    if problems:
        raise ValidationFailed("invalid token scope", detail={"errors": problems})
    return list(dict.fromkeys(out))


async def create_token(store: Store, *, name: str, organ_ids: Sequence[str],
                       served: Iterable[str], now: datetime) -> tuple[TokenInfo, str]:
    """A new token for ``organ_ids`` (each one served by this node). Returns its listing
    and the token text: the only time the text exists outside the caller's hands."""
    if not name.strip():
        raise ValidationFailed("a token needs a name",
                               detail={"errors": [{"field": "name", "message": "is required"}]})
    scope = _check_organs(organ_ids, served)
    token = new_token()
    row = ApiToken(id=str(uuid.uuid4()), name=name.strip(), token_sha256=hash_token(token),
                   organ_ids=json.dumps(scope), created_at=now, revoked_at=None)
    async with store.transaction() as tx:
        tx.session.add(row)
    return _info(row), token


async def list_tokens(store: Store) -> list[TokenInfo]:
    async with store.reader() as tx:
        rows = (await tx.session.execute(
            select(ApiToken).order_by(col(ApiToken.created_at)))).scalars().all()
    return [_info(r) for r in rows]


async def revoke_token(store: Store, token_id: str, *, now: datetime) -> TokenInfo:
    async with store.transaction() as tx:
        row = await tx.session.get(ApiToken, token_id)
        if row is None:
            raise NotFound(f"no token {token_id}", detail={"token_id": token_id})
        if row.revoked_at is None:
            row.revoked_at = now
        return _info(row)


def bearer_of(header: str | None) -> str:
    """The token text of an ``Authorization`` header (rule 2)."""
    if not header:
        raise Unauthorized("an Authorization: Bearer token is required")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return value


async def authenticate(store: Store, header: str | None) -> Caller:
    """The caller behind an ``Authorization`` header, or ``unauthorized``."""
    digest = hash_token(bearer_of(header))
    # Every API call asks: one Core read in the store's thread (store rule 8), not an ORM
    # session on the loop.
    row = await store.read_sync(lambda tx: tx.execute(_BY_DIGEST, {"digest": digest}).first())
    if row is None or row.revoked_at is not None:
        raise Unauthorized("the token is unknown or revoked")
    return Caller(row.id, row.name, tuple(json.loads(row.organ_ids)))


_TOKENS = ApiToken.__table__  # type: ignore[attr-defined]  # sqlmodel sets it
_BY_DIGEST = (select(_TOKENS.c.id, _TOKENS.c.name, _TOKENS.c.organ_ids, _TOKENS.c.revoked_at)
              .where(_TOKENS.c.token_sha256 == bindparam("digest")))
