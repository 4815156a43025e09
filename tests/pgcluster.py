"""A throwaway PostgreSQL server for the tests and benchmarks.

Started from the machine's PostgreSQL binaries on 127.0.0.1 and a free port,
with its data in a fresh temporary folder that is removed afterwards. The
server refuses to run as root, so as root it runs as the unprivileged user
`nobody`. Never a mock: this is the real server.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

UNPRIVILEGED_USER = "nobody"


def find_bin_dir() -> Path:
    override = os.environ.get("CONTINUUM_PG_BIN")
    candidates = (
        [override]
        if override
        else sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    )
    for folder in reversed([c for c in candidates if c]):
        if (Path(folder) / "postgres").exists() and (Path(folder) / "initdb").exists():
            return Path(folder)
    raise RuntimeError(
        "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
        "install them (apt-get install -y postgresql) or set CONTINUUM_PG_BIN"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    def __init__(self, *, durable: bool = False, settings: Sequence[str] = ()) -> None:
        """`durable=False` turns off fsync: fine for tests, never for benchmarks.

        `settings` are extra server settings, each "name=value", passed as `-c`
        options on every start (fault tests use them to widen crash windows).
        """
        self.bin = find_bin_dir()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="continuum-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.durable = durable
        self.settings = tuple(settings)
        self._user = UNPRIVILEGED_USER if os.geteuid() == 0 else None
        if self._user:
            shutil.chown(self.root, user=self._user)
        self._databases = 0

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            user=self._user,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.root,
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}\n{log}")

    def start(self) -> PostgresCluster:
        if not self.data.exists():
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            "-c unix_socket_directories=''",
            "-c max_connections=300",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c full_page_writes=off"]
        options += [f"-c {setting}" for setting in self.settings]
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            " ".join(options),
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data))

    def restart(self) -> None:
        self.stop("fast")
        self.start()

    def crash(self) -> None:
        """Stop the server the way a power cut would, as far as the server can tell.

        `pg_ctl stop -m immediate`: every server process exits at once, without a
        checkpoint and without writing what is still in its WAL buffers. `start()`
        brings it back through crash recovery.
        """
        self.stop("immediate")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its URL."""
        self._databases += 1
        name = f"{prefix}_{os.getpid()}_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
