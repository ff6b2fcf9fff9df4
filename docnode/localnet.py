"""A small network of real nodes on loopback, each a ``docnode run`` subprocess.

What ``docnode demo``, the two-node and crash tests and ``bench/e2e.py`` share (STYLE §9: ship
what users test with). Synchronous on purpose: it drives processes and the CLI, not the loop.

Rules:
1. Every node is set up the way ``docnode init`` and ``docnode peers add`` do it (their
   functions, same dev CA for all, so they trust each other); nothing here writes a config
   by hand except the optional
   ``[delivery]``/``[logging]`` overrides, applied through the config writer.
2. A started node is *ready* when its ``/readyz`` answers 200; ``stop`` sends SIGTERM and
   waits (graceful shutdown), ``kill`` sends SIGKILL (crash tests).
3. Whoever creates a :class:`LocalNet` stops it (context manager): nothing is left running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from docnode.config import write_config

CLI = (sys.executable, "-c", "import sys; from docnode.cli import main; sys.exit(main())")
"""How to run the ``docnode`` command with this interpreter (no PATH lookup)."""


@dataclass
class LocalNode:
    name: str
    organ_id: str
    directory: Path
    direct: str
    api: str
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: TextIO | None = field(default=None, repr=False)

    @property
    def config(self) -> Path:
        return self.directory / "docnode.toml"

    @property
    def direct_url(self) -> str:
        return f"http://{self.direct}"

    @property
    def api_url(self) -> str:
        return f"http://{self.api}"

    def cli(
        self, *args: str, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docnode ARGS`` (callers pass ``-c`` where the command takes one)."""
        argv = [*CLI, *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=_env(), check=False)
        if check and done.returncode != 0:
            raise RuntimeError(
                f"docnode {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}"
            )
        return done

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def start(self, *, wait: bool = True, timeout: float = 90.0,
              args: Sequence[str] = ()) -> None:
        """``docnode run -c CONFIG ARGS`` (e.g. ``--workers 2``)."""
        if self.process is not None and self.process.poll() is None:
            return
        self.log_path = self.directory / "node.log"
        self._log = self.log_path.open("a", encoding="utf-8")
        self.process = subprocess.Popen(
            [*CLI, "run", "-c", str(self.config), *args],
            stdout=self._log, stderr=subprocess.STDOUT, env=_env(),
        )
        if wait:
            self.wait_ready(timeout=timeout)

    def wait_ready(self, *, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited with {self.process.returncode}; "
                                   f"log: {self.tail_log()}")
            try:
                with urllib.request.urlopen(self.api_url + "/readyz", timeout=2) as resp:  # noqa: S310 - loopback URL we built
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"node {self.name} not ready after {timeout}s; log: {self.tail_log()}")

    def stop(self, *, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait for the graceful shutdown (rule 2)."""
        code = terminate(self.process, timeout=timeout)
        self._close_log()
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup at all."""
        kill(self.process)
        self._close_log()
        self.process = None

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail_log(self, lines: int = 30) -> str:
        return tail_file(self.log_path, lines)

    def update_config(self, overrides: Mapping[str, Mapping[str, Any]]) -> None:
        """Merge ``{section: {key: value}}`` into the config (through the validating writer)."""
        data = tomllib.loads(self.config.read_text("utf-8"))
        for section, values in overrides.items():
            data.setdefault(section, {}).update(values)
        write_config(self.config, data)


def terminate(process: subprocess.Popen[bytes] | None, *, timeout: float) -> int | None:
    """SIGTERM, wait up to ``timeout`` for the graceful shutdown, then SIGKILL; the exit code
    (``None`` when there was no process)."""
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def kill(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL: a crash, no cleanup at all."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()


def tail_file(path: Path | None, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ("" when there is none yet)."""
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DOCNODE_CONFIG", None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


FAST_DELIVERY: Mapping[str, Any] = {
    "backoff_initial_s": 0.2,
    "backoff_max_s": 1.0,
    "request_timeout_s": 5.0,
    "lease_s": 10.0,
}
"""Delivery settings for tests and demos: retries within a second, not minutes."""


class LocalNet:
    """Nodes sharing one dev CA, each routing to all the others (rule 1)."""

    def __init__(self, base: Path, nodes: Sequence[LocalNode]) -> None:
        self.base = base
        self.nodes = list(nodes)

    def __getitem__(self, name: str) -> LocalNode:
        return next(n for n in self.nodes if n.name == name)

    @classmethod
    def create(
        cls,
        base: Path,
        members: Sequence[tuple[str, str]],
        *,
        delivery: Mapping[str, Any] = FAST_DELIVERY,
        logging: Mapping[str, Any] | None = None,
    ) -> LocalNet:
        """``members`` = (name, OrganId) pairs; writes ``base/<name>/docnode.toml`` each."""
        from docnode.cli.node import add_peer, init_node

        base.mkdir(parents=True, exist_ok=True)
        nodes: list[LocalNode] = []
        ca_dir: Path | None = None
        for name, organ_id in members:
            result = init_node(base / name, organ_id=organ_id, name=f"Agency {name}",
                               ca_dir=ca_dir)
            ca_dir = Path(result["ca"])
            nodes.append(LocalNode(name, organ_id, base / name, result["direct"], result["api"]))
        net = cls(base, nodes)
        for node in nodes:
            overrides: dict[str, Mapping[str, Any]] = {"delivery": dict(delivery)}
            if logging:
                overrides["logging"] = dict(logging)
            node.update_config(overrides)
            for other in nodes:
                if other is not node:
                    # What ``docnode peers add`` does, without a process per call.
                    add_peer(node.config, organ_ids=[other.organ_id], url=other.direct_url,
                             name=f"Agency {other.name}")
        return net

    def start(self) -> None:
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_ready()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    @contextmanager
    def running(self) -> Iterator[LocalNet]:
        try:
            self.start()
            yield self
        finally:
            self.stop()
