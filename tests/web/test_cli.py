"""`continuum web` as users run it: a real process serving a real database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from continuum.store import open_store
from tests.conftest import wait_until
from tests.pgcluster import free_port
from tests.web.conftest import TOKEN


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None


@pytest.fixture
def server() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def migrated(url: str) -> str:
    """The observer never creates a schema: the database gets one as a worker would."""
    store = open_store(url)
    store.migrate()
    store.close()
    return url


def test_serves_until_interrupted(backend_url: str, server: list[subprocess.Popen[str]]) -> None:
    migrated(backend_url)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "continuum", "web", "--database", backend_url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CONTINUUM_WEB_TOKEN": TOKEN},
    )
    server.append(proc)
    page = wait_until(
        lambda: proc.poll() is None and _get(f"http://127.0.0.1:{port}/runs"),
        timeout=30,
        what="continuum web to answer",
    )
    assert "Log in to act" in page  # the token came from CONTINUUM_WEB_TOKEN
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"continuum web on http://127.0.0.1:{port}/" in err


def test_read_only_without_a_token(backend_url: str, server: list[subprocess.Popen[str]]) -> None:
    migrated(backend_url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CONTINUUM_WEB_TOKEN"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "continuum", "web", "--database", backend_url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    server.append(proc)
    page = wait_until(
        lambda: proc.poll() is None and _get(f"http://127.0.0.1:{port}/"),
        timeout=30,
        what="continuum web to answer",
    )
    assert ">read-only<" in page
    proc.terminate()
    _, err = proc.communicate(timeout=20)
    assert "(read-only)" in err


def test_a_database_it_cannot_open_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "continuum", "web", "--database", url],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr


def test_a_database_without_the_schema_is_one_line_and_left_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "continuum", "web", "--database", url],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "continuum migrate" in done.stderr
    assert not any(tmp_path.iterdir())  # no file was created


def test_without_the_web_extra() -> None:
    script = (
        "import sys; sys.modules['starlette'] = None; "
        "from continuum.cli import main; main(['web', '--database', 'sqlite:///unused.db'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "pip install 'continuum-python[web]'" in done.stderr
    assert "Traceback" not in done.stderr
