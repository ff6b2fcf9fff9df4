"""A small network through an axis, on loopback: one ``docnode axis serve`` process and agency
nodes (``docnode run`` processes) that reach each other only through it.

What ``docnode demo --via-axis``, the axis end-to-end and crash tests and ``bench/e2e.py``
share. Synchronous, like ``docnode.localnet`` (whose :class:`LocalNode` it reuses).

Rules:
1. Nodes are set up with ``docnode init`` (one dev CA for all) and NO direct peers: with an
   ``[axis]`` section every recipient routes to the axis. Each node's system secret is a
   random value in ``<node>/keys/axis-secret`` (0600), registered on the axis with
   ``docnode axis register-system --secret-file``; nothing secret is put on a command line.
2. The axis trusts the dev CA's root and reads its CRL files (revocation ``required``).
3. The axis is ready when its ``listening HOST:PORT`` line is logged; ``stop`` is SIGTERM,
   ``kill`` SIGKILL (crash tests). Whoever creates an :class:`AxisNet` stops it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from docnode.localnet import CLI, FAST_DELIVERY, LocalNode, _env, kill, tail_file, terminate


@dataclass
class LocalAxis:
    directory: Path
    listen: str
    ca_dir: Path
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: TextIO | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                              env=_env(), check=False)
        if done.returncode != 0:
            raise RuntimeError(f"docnode {' '.join(args)} exited {done.returncode}: "
                               f"{done.stderr.strip()}")
        return done

    def register(self, system_id: str, secret_file: Path, organ_ids: Sequence[str]) -> None:
        args = ["axis", "register-system", "--data", str(self.directory), "--system-id",
                system_id, "--secret-file", str(secret_file)]
        for oid in organ_ids:
            args += ["--organ-id", oid]
        self.cli(*args)

    def start(self, *, timeout: float = 30.0) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.log_path = self.directory / "axis.log"
        self._log = self.log_path.open("a", encoding="utf-8")
        start_at = self.log_path.stat().st_size
        argv = [*CLI, "axis", "serve", "--data", str(self.directory), "--listen", self.listen,
                "--trust-anchor", str(self.ca_dir / "root-ca.pem"),
                "--intermediate", str(self.ca_dir / "issuing-ca.pem"),
                "--crl", str(self.ca_dir / "crl.pem"), "--crl", str(self.ca_dir / "root-crl.pem"),
                *self.extra_args]
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=_env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"axis exited with {self.process.returncode}: "
                                   f"{self.tail_log()}")
            with self.log_path.open("rb") as fh:
                fh.seek(start_at)
                if b"listening " in fh.read():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"axis not ready after {timeout}s: {self.tail_log()}")

    def stop(self, *, timeout: float = 30.0) -> int | None:
        code = terminate(self.process, timeout=timeout)
        self._close()
        return code

    def kill(self) -> None:
        kill(self.process)
        self._close()

    def _close(self) -> None:
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail_log(self, lines: int = 30) -> str:
        return tail_file(self.log_path, lines)


class AxisNet:
    """An axis and agency nodes that only know the axis (rules 1-3)."""

    def __init__(self, base: Path, axis: LocalAxis, nodes: Sequence[LocalNode]) -> None:
        self.base = base
        self.axis = axis
        self.nodes = list(nodes)

    def __getitem__(self, name: str) -> LocalNode:
        return next(n for n in self.nodes if n.name == name)

    @classmethod
    def create(
        cls,
        base: Path,
        members: Sequence[tuple[str, str]],
        *,
        poll_interval_s: float = 0.5,
        delivery: Mapping[str, Any] = FAST_DELIVERY,
        axis_args: Sequence[str] = (),
        logging: Mapping[str, Any] | None = None,
    ) -> AxisNet:
        from docnode.cli.node import free_port, init_node

        base.mkdir(parents=True, exist_ok=True)
        nodes: list[LocalNode] = []
        ca_dir: Path | None = None
        for name, organ_id in members:
            result = init_node(base / name, organ_id=organ_id, name=f"Agency {name}",
                               ca_dir=ca_dir)
            ca_dir = Path(result["ca"])
            nodes.append(LocalNode(name, organ_id, base / name, result["direct"], result["api"]))
        if ca_dir is None:
            raise ValueError("an axis network needs at least one node")
        axis = LocalAxis(base / "axis", f"127.0.0.1:{free_port()}", ca_dir, tuple(axis_args))
        for node in nodes:
            secret_file = node.directory / "keys" / "axis-secret"
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_urlsafe(24))
            system_id = f"sys.{node.name.lower()}"
            axis.register(system_id, secret_file, [node.organ_id])
            # What getAgenciesList serves the nodes' directory sync (docnode peers).
            axis.cli("axis", "set-agency", "--data", str(axis.directory), "--organ-id",
                     node.organ_id, "--name", f"Agency {node.name}")
            node.update_config({
                **({"logging": dict(logging)} if logging else {}),
                "delivery": dict(delivery),
                "axis": {"url": axis.url, "system_id": system_id,
                         "secret_file": "keys/axis-secret",
                         "poll_interval_s": poll_interval_s},
            })
        return cls(base, axis, nodes)

    def start(self) -> None:
        self.axis.start()
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_ready()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.axis.stop()

    @contextmanager
    def running(self) -> Iterator[AxisNet]:
        try:
            self.start()
            yield self
        finally:
            self.stop()
