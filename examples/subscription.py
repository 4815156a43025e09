"""A subscription billed every period for as long as it lasts, with continue-as-new.

    python examples/subscription.py              # on a temporary SQLite file
    python examples/subscription.py DATABASE     # or any database URL

Each run of `Subscription` bills one period, waits for the next one (or for a
"cancel" signal), then continues as a fresh run with the next period's state:
`continuum.continue_as_new`. However long the subscription lives, no run's
journal grows past one period, and a new version of the code is picked up at
the next period. `result()` on the first run follows the chain to its end.

A real subscription waits 30 days (`period` is seconds); this one waits a
fraction of a second so that the example ends quickly.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import continuum


@continuum.activity
def bill(customer: str, period: int, amount: float) -> str:
    print(f"  billed {customer} {amount:.2f} for period {period}")
    return f"invoice-{customer}-{period}"


class Subscription(continuum.Workflow, version=1):
    def run(self, state: dict[str, Any]) -> dict[str, Any]:
        invoice = bill(state["customer"], state["period"], state["amount"])
        invoices = state.get("invoices", 0) + 1
        try:
            reason = continuum.wait_for_signal("cancel", timeout=state["every"])
        except continuum.SignalTimeout:
            continuum.continue_as_new(
                {**state, "period": state["period"] + 1, "invoices": invoices}
            )
        return {"cancelled": reason, "invoices": invoices, "last_invoice": invoice}


def main(database: str) -> None:
    with continuum.Continuum(database=database, poll_interval=0.05) as app:
        state = {"customer": "c-42", "amount": 9.99, "period": 1, "every": 0.2}
        first = app.start(Subscription, state, attributes={"customer": "c-42"})
        # let it bill three periods, then cancel whichever run of the chain is current
        current = first
        while True:
            info = app.get(current)
            if info.continued_to is not None:
                current = info.continued_to
            elif info.input["period"] >= 3 and info.status == "suspended":
                break
            else:
                time.sleep(0.02)
        app.signal(current, "cancel", "moved to the yearly plan")
        print(f"outcome: {app.result(first, timeout=30)}")
        chain, run_id = [], first
        while run_id is not None:
            info = app.get(run_id)
            chain.append(info)
            run_id = info.continued_to
        print(f"runs in the chain: {len(chain)}")
        for info in chain:
            journal = len(app.store.load_journal(info.run_id))
            print(f"  period {info.input['period']}: {info.status}, {journal} journal entries")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(f"sqlite:///{Path(folder) / 'subscriptions.db'}")
