"""What the testing kit costs a test suite.

    python -m bench.testing_kit [--repeat 50] [--steps 100]

- a whole test of a workflow that sleeps 30 days, then waits for three signals with
  a one-hour timeout each (two sent by the test, the third timing out): the
  environment made and closed, the run started, driven step by step and its
  result read, as a test written with `continuum.testing` does it (target: under
  100 ms);
- the same workflow driven by `run_until_idle()` alone (every wait times out);
- paranoid mode on a workflow of `--steps` activities, one after the other: the run
  to its result with paranoid mode off and on (each journal write replayed from the
  top: quadratic in the run's length), and what that costs per write.

Medians and the slowest of `--repeat` runs, after one run to warm up.
Figures, never assertions.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import continuum
from continuum.testing import WorkflowEnvironment

DAY = 86400


@continuum.activity
def step(n: int) -> int:
    return n


class Month(continuum.Workflow):
    def run(self, _: object) -> list[object]:
        continuum.sleep(30 * DAY)
        answers = []
        for name in ("first", "second", "third"):
            try:
                answers.append(continuum.wait_for_signal(name, timeout=3600))
            except continuum.SignalTimeout:
                answers.append(None)
        return answers


class Steps(continuum.Workflow):
    def run(self, n: int) -> int:
        return sum(step(i) for i in range(n))


def month_test() -> None:
    with WorkflowEnvironment([Month]) as env:
        run_id = env.start(Month)
        env.run_due()
        env.skip(30 * DAY)
        env.signal(run_id, "first", 1)
        env.run_due()
        env.signal(run_id, "second", 2)
        assert env.result(run_id) == [1, 2, None]


def month_idle_test() -> None:
    with WorkflowEnvironment([Month]) as env:
        run_id = env.start(Month)
        env.run_until_idle()
        assert env.get(run_id).status == "completed"


def steps_run(steps: int, *, paranoid: bool) -> float:
    """Seconds from start to result of one `steps`-activity run (the environment aside)."""
    with WorkflowEnvironment([Steps], paranoid=paranoid) as env:
        began = time.perf_counter()
        assert env.result(env.start(Steps, steps)) == sum(range(steps))
        return time.perf_counter() - began


def timed(work: Callable[[], object], repeat: int) -> list[float]:
    work()  # warm up: imports, first compilations
    took = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        took.append(time.perf_counter() - began)
    return took


def line(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<62} {value:>12}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()

    print(f"continuum.testing, {args.repeat} runs each (median, slowest)")
    for label, work in (
        ("test: 30-day sleep, 3 signals with timeouts (2 sent)", month_test),
        ("test: the same, run_until_idle() alone (3 timeouts)", month_idle_test),
    ):
        took = timed(work, args.repeat)
        line(label, f"{statistics.median(took) * 1000:.1f} ms", f"max {max(took) * 1000:.1f} ms")

    steps_run(args.steps, paranoid=True)  # warm up
    off = statistics.median(steps_run(args.steps, paranoid=False) for _ in range(args.repeat))
    on = statistics.median(steps_run(args.steps, paranoid=True) for _ in range(args.repeat))
    writes = args.steps + 1  # one per activity, and the finish
    line(f"{args.steps}-step workflow to its result, paranoid off", f"{off * 1000:.1f} ms")
    line(
        f"{args.steps}-step workflow to its result, paranoid on",
        f"{on * 1000:.1f} ms",
        f"{on / off:.1f}x; +{(on - off) / writes * 1e6:.0f} us per journal write replayed",
    )


if __name__ == "__main__":
    main()
