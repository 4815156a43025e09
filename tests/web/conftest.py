"""Fixtures of the web observer's tests: a worker that runs the test workflows, and
observer apps on the same database, driven through Starlette's TestClient."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

import continuum
from continuum.store import open_store
from continuum.web import create_app
from tests.web import flows

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def worker(make_app: Callable[..., continuum.Continuum]) -> Iterator[continuum.Continuum]:
    """A node that executes the test workflows."""
    flows.GATES.clear()
    flows.FAILURES.clear()
    node = make_app(name="worker", node="worker-1", workflow_modules=flows.ALL)
    yield node
    for gate in list(flows.GATES.values()):
        gate.set()  # let held activities finish before the node shuts down


@pytest.fixture
def observe(backend_url: str) -> Iterator[Callable[..., TestClient]]:
    """Observer apps on the test database (their lifespans run), closed afterwards.
    The observer never migrates, so the database gets its schema here first."""
    opened: list[TestClient] = []
    store = open_store(backend_url)
    store.migrate()
    store.close()

    def make(token: str | None = None) -> TestClient:
        client = TestClient(create_app(database=backend_url, token=token))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def log_in(client: TestClient, token: str = TOKEN, prefix: str = "") -> str:
    """Log in through the form; returns the CSRF token of the new session."""
    response = client.post(f"{prefix}/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get(f"{prefix}/nodes").text)
