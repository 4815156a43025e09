"""The examples under examples/, run as a reader runs them, so that they never rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


def run_example(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_order_example_ships_one_order_and_refunds_the_other(backend_url: str) -> None:
    out = run_example("order_parcels.py", backend_url)
    first, second = out.split("order-2:\n")
    assert "-> {'status': 'shipped', 'tracking': ['TRK-book', 'TRK-lamp']}" in first
    assert "courier booking TRK-chair cancelled\n  refunded 99.50 (pay-order-2)" in second
    assert "'status': 'refunded'" in second and "no courier takes parcel desk" in second
    assert "orders of customer c-42: 2" in out
    assert "order-2: completed, shipments chair=completed, desk=failed" in out


def test_the_subscription_example_continues_as_new_until_cancelled(backend_url: str) -> None:
    out = run_example("subscription.py", backend_url)
    assert "outcome: {'cancelled': 'moved to the yearly plan', 'invoices': 3" in out
    assert "runs in the chain: 3" in out
    for period in (1, 2, 3):
        assert f"period {period}: completed, 2 journal entries" in out


def test_the_examples_run_on_their_own_temporary_database() -> None:
    assert "runs in the chain: 3" in run_example("subscription.py")
