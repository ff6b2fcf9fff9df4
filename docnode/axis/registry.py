"""The axis's registry of client systems and agencies, from the config and for the CLI.

Rules:
1. ``[[axis_systems]]`` (with ``[[axis_systems.agencies]]``) in a ``role = "axis"`` config is
   applied at every start, in ONE transaction, before the axis serves: each system is created
   or updated (its secret re-sealed), each agency created or updated (owner, name, mail,
   parent) and marked ``source = config``. An agency the config no longer names is removed
   only if the config put it there; those registered with ``docnode axis register-system``
   (``source = cli``) are the CLI's to manage.
2. An OrganId belongs to one system (``axis_organs`` rule 5): a config that gives another
   system's OrganId is refused as ``config_invalid`` and nothing of it is applied.
3. ``docnode axis set-agency`` describes an agency already registered (name, mail, parent):
   what getAgenciesList serves. ``docnode axis agencies`` lists the registry.
4. Secrets never leave this module unsealed except into the hub's memory (the caller reloads
   them with ``AxisHub.load_secrets``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from docnode import errors
from docnode.axis.secrets import SecretSealer
from docnode.axis.tables import AxisOrgan, AxisSystem, RegistrySource
from docnode.config import AxisSystemSettings
from docnode.logging import get_logger
from docnode.store import Store

log = get_logger("axis.registry")


@dataclass(frozen=True, slots=True)
class RegistryChange:
    """What applying the config changed (rule 1)."""

    systems: int
    agencies: int
    removed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RegistryRow:
    """One agency of the registry and the system that owns it."""

    organ_id: str
    system_id: str
    name: str
    mail: str
    parent: str
    source: str

    def to_json(self) -> dict[str, str]:
        return {"organ_id": self.organ_id, "system_id": self.system_id, "name": self.name,
                "mail": self.mail, "parent": self.parent, "source": self.source}


async def apply_config_registry(
    store: Store, sealer: SecretSealer, systems: Sequence[AxisSystemSettings], *,
    environ: Mapping[str, str], now: datetime,
) -> RegistryChange:
    """Rule 1 and 2; secrets are read (env or file) before anything is written."""
    secrets = {s.system_id: s.read_secret(environ) for s in systems}
    wanted = {a.organ_id: (s.system_id, a) for s in systems for a in s.agencies}
    async with store.transaction() as tx:
        session = tx.session
        for system in systems:
            row = await session.get(AxisSystem, system.system_id)
            sealed = sealer.seal(system.system_id, secrets[system.system_id])
            if row is None:
                session.add(AxisSystem(system_id=system.system_id, secret_sealed=sealed,
                                       name=system.name, created_at=now, updated_at=now))
            else:
                row.secret_sealed, row.updated_at = sealed, now
                row.name = system.name or row.name
        await session.flush()  # the systems exist before their agencies point at them
        organs = {o.organ_id: o for o in (await session.execute(select(AxisOrgan))).scalars()}
        problems = [f"[axis_systems] {oid}: already belongs to system {organs[oid].system_id!r}"
                    f" (registered with docnode axis register-system); not {system_id!r}"
                    for oid, (system_id, _) in wanted.items()
                    if oid in organs and organs[oid].system_id != system_id
                    and organs[oid].source != RegistrySource.CONFIG]
        if problems:
            raise errors.ConfigInvalid(problems)
        for oid, (system_id, agency) in wanted.items():
            organ = organs.get(oid)
            if organ is None:
                session.add(AxisOrgan(organ_id=oid, system_id=system_id, name=agency.name,
                                      mail=agency.mail, parent=agency.parent,
                                      source=RegistrySource.CONFIG.value))
            else:
                organ.system_id, organ.name = system_id, agency.name
                organ.mail, organ.parent = agency.mail, agency.parent
                organ.source = RegistrySource.CONFIG.value
        removed = tuple(sorted(oid for oid, o in organs.items()
                               if o.source == RegistrySource.CONFIG and oid not in wanted))
        for oid in removed:
            await session.delete(organs[oid])
    log.info("axis_registry_applied", systems=len(systems), agencies=len(wanted),
             removed=list(removed))
    return RegistryChange(len(systems), len(wanted), removed)


async def describe_agency(store: Store, organ_id: str, *, name: str | None = None,
                          mail: str | None = None, parent: str | None = None) -> RegistryRow:
    """Rule 3: set what getAgenciesList says of a registered agency."""
    async with store.transaction() as tx:
        organ = await tx.session.get(AxisOrgan, organ_id)
        if organ is None:
            raise errors.NotFound(f"{organ_id} is not registered on this axis "
                                  "(docnode axis register-system --organ-id)",
                                  detail={"organ_id": organ_id})
        if name is not None:
            organ.name = name
        if mail is not None:
            organ.mail = mail
        if parent is not None:
            organ.parent = parent
        return _row(organ)


async def list_registry(store: Store) -> list[RegistryRow]:
    """Rule 3: every agency, by OrganId."""
    async with store.reader() as tx:
        rows = (await tx.session.execute(
            select(AxisOrgan).order_by(col(AxisOrgan.organ_id)))).scalars().all()
    return [_row(r) for r in rows]


def _row(organ: AxisOrgan) -> RegistryRow:
    return RegistryRow(organ.organ_id, organ.system_id, organ.name, organ.mail, organ.parent,
                       organ.source)
