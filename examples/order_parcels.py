"""An order that ships each parcel in a child workflow, and refunds when one fails.

    python examples/order_parcels.py             # on a temporary SQLite file
    python examples/order_parcels.py DATABASE    # or any database URL

What it shows:
- child workflows: one `Shipment` run per parcel, started together with
  `continuum.start_child`, collected in order with `continuum.await_child`; each
  child is a run of its own, pinned to its own version, listed by its parent;
- a saga: the payment and each courier booking register their undo step
  (`continuum.add_compensation`); a parcel no courier takes fails its child, and
  the order unwinds (`continuum.compensate_all`): the bookings, then the payment;
- search attributes: every order carries its customer, and the customer's orders
  are found with `app.query(attributes=...)`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import continuum

NO_RETRY = continuum.Retry(max_attempts=1)


@continuum.activity
def refund(payment: dict[str, Any]) -> None:
    print(f"  refunded {payment['amount']:.2f} ({payment['id']})")


@continuum.activity
def charge(order_id: str, amount: float) -> dict[str, Any]:
    # `order_id` doubles as the idempotency key a payment provider takes: a retried
    # charge after a crash is recognised, never taken twice.
    print(f"  charged {amount:.2f} for {order_id}")
    return {"id": f"pay-{order_id}", "amount": amount}


@continuum.activity
def cancel_courier(booking: dict[str, Any]) -> None:
    print(f"  courier booking {booking['tracking']} cancelled")


@continuum.activity(retry=NO_RETRY)
def book_courier(parcel: dict[str, Any]) -> dict[str, Any]:
    if not parcel["address"]:
        raise ValueError(f"no courier takes parcel {parcel['sku']}: it has no address")
    print(f"  courier booked for {parcel['sku']}")
    return {"tracking": f"TRK-{parcel['sku']}"}


class Shipment(continuum.Workflow, version=1):
    """One parcel: book a courier (a real one would go on to track the delivery)."""

    def run(self, parcel: dict[str, Any]) -> dict[str, Any]:
        return book_courier(parcel)


class Order(continuum.Workflow, version=1):
    def run(self, order: dict[str, Any]) -> dict[str, Any]:
        payment = charge(order["id"], order["amount"])
        continuum.add_compensation(refund, payment)
        parcels = [continuum.start_child(Shipment, parcel) for parcel in order["parcels"]]
        shipped = []
        try:
            for parcel in parcels:
                booking = continuum.await_child(parcel)
                continuum.add_compensation(cancel_courier, booking)
                shipped.append(booking["tracking"])
        except continuum.ChildFailed as failed:
            continuum.compensate_all()  # the courier bookings made, then the payment
            return {"status": "refunded", "reason": failed.error_message}
        return {"status": "shipped", "tracking": shipped}


ORDERS = [
    {
        "id": "order-1",
        "amount": 42.0,
        "parcels": [{"sku": "book", "address": "Rua Augusta 1"}, {"sku": "lamp", "address": "x"}],
    },
    {
        "id": "order-2",
        "amount": 99.5,
        "parcels": [{"sku": "chair", "address": "Main St 5"}, {"sku": "desk", "address": ""}],
    },
]


def main(database: str) -> None:
    with continuum.Continuum(database=database, poll_interval=0.05) as app:
        run_ids = []
        for order in ORDERS:
            print(f"{order['id']}:")
            run_id = app.start(Order, order, attributes={"customer": "c-42"})
            print(f"  -> {app.result(run_id, timeout=30)}")
            run_ids.append(run_id)
        found = app.query(attributes={"customer": "c-42"}, workflow=Order)
        print(f"orders of customer c-42: {len(found.runs)}")
        for run_id in run_ids:
            info = app.get(run_id)
            kids = [f"{app.get(c).input['sku']}={app.get(c).status}" for c in info.children or ()]
            print(f"{info.input['id']}: {info.status}, shipments {', '.join(kids)}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(f"sqlite:///{Path(folder) / 'orders.db'}")
