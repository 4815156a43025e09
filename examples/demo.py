"""Workflow versioning, shown end to end on the embedded SQLite default.

1. Version 1 of an order workflow is deployed; an order starts and suspends,
   waiting for a manager's approval.
2. The code changes (a launch discount and an e-mailed receipt) and the
   module is reloaded in the same process: version 2. A new order starts on it.
3. Both orders are approved. The first finishes on the version-1 code it
   started on; the second on version 2.

Run it with `make demo`, or `python examples/demo.py` once installed.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import continuum

ORDERS_V1 = """
import continuum


@continuum.activity
def charge_card(card, amount):
    return {"card": "**** " + card[-4:], "amount": amount}


class OrderFlow(continuum.Workflow, version=1):
    def run(self, order):
        charge = charge_card(order["card"], order["amount"])
        approval = continuum.wait_for_signal("approval", timeout=7 * 24 * 3600)
        return {"charged": charge["amount"], "approved_by": approval["by"]}
"""

ORDERS_V2 = """
import continuum


@continuum.activity
def charge_card(card, amount):
    return {"card": "**** " + card[-4:], "amount": amount}


@continuum.activity
def send_receipt(email, charge):
    return f"receipt for {charge['amount']:.2f} sent to {email}"


class OrderFlow(continuum.Workflow, version=2):
    def run(self, order):
        amount = round(order["amount"] * 0.9, 2)  # launch discount: 10% off
        charge = charge_card(order["card"], amount)
        approval = continuum.wait_for_signal("approval", timeout=7 * 24 * 3600)
        receipt = send_receipt(order["email"], charge)
        return {"charged": charge["amount"], "approved_by": approval["by"], "receipt": receipt}
"""


def say(text: str = "") -> None:
    print(textwrap.indent(text, "  ") if text else "", flush=True)


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="continuum-demo-"))
    os.chdir(workdir)  # the embedded default database is ./continuum.db
    sys.path.insert(0, str(workdir))
    module_file = workdir / "orders.py"
    module_file.write_text(ORDERS_V1)
    orders = importlib.import_module("orders")

    print("Continuum demo: workflow versioning on the embedded SQLite default\n")
    with continuum.Continuum(name="orders", workflow_modules=["orders"]) as app:
        say(f"database: {workdir / 'continuum.db'}\n")

        v1 = orders.OrderFlow.__continuum_entrypoint__()
        say(f"1. Deployed OrderFlow version {v1.version}, hash {v1.version_hash}")
        first = app.start(
            orders.OrderFlow, {"card": "4242424242424242", "amount": 100.0}, run_id="order-1001"
        )
        wait_for(app, first, "suspended")
        say(f"   {first}: charged, now suspended waiting for the 'approval' signal")
        say("   (a suspended run is a row in the database: no thread, no lease)\n")

        module_file.write_text(ORDERS_V2)
        importlib.reload(orders)
        v2 = orders.OrderFlow.__continuum_entrypoint__()
        say(f"2. Changed the code and reloaded: version {v2.version}, hash {v2.version_hash}")
        say("   (10% launch discount, and a receipt e-mailed after approval)")
        second = app.start(
            orders.OrderFlow,
            {"card": "5555555555554444", "amount": 100.0, "email": "bea@example.com"},
            run_id="order-1002",
        )
        wait_for(app, second, "suspended")
        say(f"   {second}: started on version 2, suspended waiting for approval\n")

        say("3. Both orders approved")
        app.signal(first, "approval", {"by": "ana"})
        app.signal(second, "approval", {"by": "ana"})
        for run_id in (first, second):
            output = app.result(run_id, timeout=30)
            info = app.get(run_id)
            say(f"   {run_id} finished on version {info.version} (hash {info.version_hash}):")
            for key, value in output.items():
                say(f"      {key:12} {value}")
        say()
        say("The run that started on version 1 resumed on version-1 code after version 2")
        say("was loaded: no discount, no receipt. Each run is pinned to the hash it started on.")
        say()
        say("Versions in continuum_workflow_versions:")
        for row in app.store.list_versions():
            if row.workflow == "orders.OrderFlow":
                say(f"   {row.workflow}  version {row.version}  hash {row.version_hash}")

    os.chdir(Path.home())
    shutil.rmtree(workdir, ignore_errors=True)


def wait_for(app: continuum.Continuum, run_id: str, status: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while app.get(run_id).status != status:
        if time.monotonic() > deadline:
            raise SystemExit(f"{run_id} did not reach {status}: {app.get(run_id)}")
        time.sleep(0.02)


if __name__ == "__main__":
    main()
