from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engine import flows


@pytest.fixture(autouse=True)
def _reset_flows() -> Iterator[None]:
    """Fresh activity counters per test; open gates so no activity outlives its test."""
    flows.reset()
    yield
    for gate in flows.GATES.values():
        gate.set()
    flows.STALL.set()
