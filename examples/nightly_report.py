"""A nightly report, started by a cron schedule at 02:00 Paris time.

    python examples/nightly_report.py                      # a node that runs it nightly
    python examples/nightly_report.py --every 2 --runs 3   # see it now: every 2 seconds

The schedule is declared at every start (`app.schedule` with the same id updates it,
and the same arguments change nothing), so this script is also how a deploy keeps
it in step with the code. Each night's run has its own id, made from the schedule
and the tick (`schedule:nightly-report:2030-01-01T01:00:00Z`): however many nodes
run this script, each night's report starts once. `continuum schedules list
--database ...` shows it; `continuum schedules pause nightly-report` stops it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import signal
import tempfile
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import continuum

ZONE = "Europe/Paris"


@continuum.activity(retry=continuum.Retry(max_attempts=3))
def gather_figures(day: str) -> dict[str, float]:
    """Yesterday's orders from the shop's database (made up here, the same for a day)."""
    seed = int(hashlib.sha256(day.encode()).hexdigest()[:8], 16)
    return {"orders": 20 + seed % 80, "revenue": round(1000 + (seed % 900_000) / 100, 2)}


@continuum.activity(retry=continuum.Retry(max_attempts=5))
def send_report(to: str, day: str, figures: dict[str, float]) -> str:
    """Mail the report (printed here). Retried: a mail server that hiccups is tried again."""
    orders, revenue = figures["orders"], figures["revenue"]
    line = f"report for {day} sent to {to}: {orders:.0f} orders, {revenue:.2f} EUR"
    print(line, flush=True)
    return line


class NightlyReport(continuum.Workflow, workflow="reports.NightlyReport"):
    def run(self, input):
        today = continuum.now().astimezone(ZoneInfo(input["zone"])).date()  # journaled
        day = (today - dt.timedelta(days=1)).isoformat()  # the report covers yesterday
        figures = gather_figures(day)
        return send_report(input["to"], day, figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a database URL (default: a new SQLite file)")
    parser.add_argument("--every", type=float, help="tick every N seconds instead of nightly")
    parser.add_argument("--runs", type=int, help="stop after this many reports")
    args = parser.parse_args()
    database = args.database or f"sqlite:///{Path(tempfile.mkdtemp()) / 'reports.db'}"

    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    finished: list[str] = []

    def on_stop(event, measurements, metadata) -> None:
        if metadata["workflow"] == NightlyReport.workflow:
            finished.append(metadata["run_id"])
            if args.runs is not None and len(finished) >= args.runs:
                done.set()

    continuum.telemetry.attach("nightly-report-example", ("continuum", "run", "stop"), on_stop)
    app = continuum.Continuum(name="reports", database=database, workflow_modules=[NightlyReport])
    with app:
        timing = {"every": args.every} if args.every else {"cron": "0 2 * * *", "timezone": ZONE}
        schedule_id = app.schedule(
            NightlyReport,
            {"to": "ops@example.com", "zone": ZONE},
            id="nightly-report",
            catch_up="once",  # nodes all down at 02:00: one report when one is back
            **timing,
        )
        [schedule] = [s for s in app.schedules() if s.id == schedule_id]
        when = schedule.next_tick.astimezone(ZoneInfo(ZONE)) if schedule.next_tick else None
        print(f"schedule {schedule_id}: next report at {when:%Y-%m-%d %H:%M:%S %Z}", flush=True)
        print(f"database: {database} (Ctrl-C to stop)", flush=True)
        done.wait()
    for run_id in finished:
        print(f"finished {run_id}")


if __name__ == "__main__":
    main()
