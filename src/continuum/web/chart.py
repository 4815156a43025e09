"""Runs started and ended over time, as the geometry of a small SVG bar chart.

`store.run_activity(since=, bucket_seconds=)` answers only the buckets that hold
something; `build` lays every bucket of the window out (empty ones as gaps),
one group of bars per bucket: started, completed, failed, cancelled. The
template draws the rectangles this module places; nothing here is markup.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from continuum.store.values import ActivityBucket

WIDTH = 960
HEIGHT = 220
LEFT = 44  # room for the y-axis labels
BOTTOM = 22  # room for the x-axis labels
TOP = 8

SERIES = ("started", "completed", "failed", "cancelled")

# The windows the overview offers: name -> (seconds, bucket seconds).
WINDOWS = {
    "1h": (3600, 60),
    "24h": (86400, 3600),
    "7d": (7 * 86400, 6 * 3600),
}
DEFAULT_WINDOW = "24h"


@dataclass(frozen=True, slots=True)
class Bar:
    series: str
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str  # the tooltip: "12:00-13:00 UTC: 41 completed"


@dataclass(frozen=True, slots=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    totals: dict[str, int]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def window_start(now: float, seconds: int, bucket: int) -> float:
    """The first bucket's start: windows are aligned on whole buckets, the last one
    holding `now`."""
    return (math.floor(now / bucket) + 1) * bucket - seconds


def build(buckets: Sequence[ActivityBucket], *, since: float, seconds: int, bucket: int) -> Chart:
    slots = max(seconds // bucket, 1)
    counts = [dict.fromkeys(SERIES, 0) for _ in range(slots)]
    for found in buckets:
        index = round((found.start - since) / bucket)
        if 0 <= index < slots:
            for name in SERIES:
                counts[index][name] += int(getattr(found, name))
    totals = {name: sum(c[name] for c in counts) for name in SERIES}
    peak = max([1, *(c[name] for c in counts for name in SERIES)])
    top = _nice(peak)
    plot_w = WIDTH - LEFT - 4
    plot_h = HEIGHT - BOTTOM - TOP
    group = plot_w / slots
    bar_w = max(group * 0.8 / len(SERIES), 0.5)
    bars = []
    for i, slot in enumerate(counts):
        begin = since + i * bucket
        for j, name in enumerate(SERIES):
            n = slot[name]
            if not n:
                continue
            h = plot_h * n / top
            x = LEFT + i * group + group * 0.1 + j * bar_w
            bars.append(
                Bar(
                    series=name,
                    x=round(x, 2),
                    y=round(TOP + plot_h - h, 2),
                    width=round(bar_w, 2),
                    height=round(h, 2),
                    count=n,
                    label=f"{_period(begin, bucket)}: {n} {name}",
                )
            )
    y_ticks = [Tick(round(TOP + plot_h - plot_h * k / 4, 2), f"{top * k // 4:,}") for k in range(5)]
    every = max(slots // 8, 1)
    x_ticks = [
        Tick(round(LEFT + i * group, 2), _clock(since + i * bucket, bucket))
        for i in range(0, slots, every)
    ]
    return Chart(bars, y_ticks, x_ticks, totals)


def _nice(peak: int) -> int:
    """The y-axis top: at least `peak`, a multiple of 4 of a round step."""
    for scale in (10**k for k in range(15)):
        for step in (1, 2, 5):
            if step * scale * 4 >= peak:
                return int(step * scale * 4)
    return peak  # pragma: no cover


def _period(begin: float, bucket: int) -> str:
    return f"{_clock(begin, bucket)}-{_clock(begin + bucket, bucket)} UTC"


def _clock(at: float, bucket: int) -> str:
    moment = dt.datetime.fromtimestamp(at, tz=dt.UTC)
    return moment.strftime("%a %H:%M" if bucket >= 3 * 3600 else "%H:%M")
