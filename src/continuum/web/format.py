"""How times, durations and stored values read on a page (the templates' filters).

Every value here comes back as plain text: the templates escape it, so a payload
holding markup shows as the characters it holds. Times are shown relative
("3m ago") with the absolute UTC time beside them for the `title` attribute.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

# A value longer than this is cut on the page (the CLI's `show --format json` has it whole).
VALUE_LIMIT = 20_000

Moment = dt.datetime | float | int | None


def stamp(moment: Moment) -> float | None:
    """Seconds since the epoch, or None for "not recorded" (None or 0)."""
    if not moment:
        return None
    if isinstance(moment, dt.datetime):
        return moment.timestamp()
    return float(moment)


def absolute(moment: Moment) -> str:
    """`2025-01-31 12:00:03 UTC`, or "-"."""
    at = stamp(moment)
    if at is None:
        return "-"
    return dt.datetime.fromtimestamp(at, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(moment: Moment) -> str:
    at = stamp(moment)
    return "" if at is None else dt.datetime.fromtimestamp(at, tz=dt.UTC).isoformat()


def relative(moment: Moment, now: float) -> str:
    """`12s ago`, `in 5m`, `just now`, or "-"."""
    at = stamp(moment)
    if at is None:
        return "-"
    delta = now - at
    if abs(delta) < 1:
        return "just now"
    text = span(abs(delta), coarse=True)
    return f"{text} ago" if delta > 0 else f"in {text}"


def span(seconds: float | None, *, coarse: bool = False) -> str:
    """A duration: `850 ms`, `4.2 s`, `3m 4s`, `2h 3m`, `5d 2h` (`coarse`: one unit
    below a minute, whole seconds)."""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 1 and not coarse:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.0f}s" if coarse else f"{seconds:.3g} s"
    whole = int(seconds)
    for unit, size, smaller, small_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if whole >= size:
            big, rest = divmod(whole, size)
            part = rest // small_size
            return f"{big}{unit} {part}{smaller}" if part else f"{big}{unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def pretty(value: Any) -> str:
    """A stored JSON value, indented; cut past VALUE_LIMIT characters."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    if len(text) > VALUE_LIMIT:
        return text[:VALUE_LIMIT] + f"\n... (cut: {len(text):,} characters in all)"
    return text


def compact(value: Any, width: int = 120) -> str:
    """A JSON value on one line, cut to `width` characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= width else text[: width - 1] + "…"


def short_hash(version_hash: str) -> str:
    return version_hash[:12]


def datetime_local(moment: dt.datetime | None) -> str:
    """The value an `<input type="datetime-local">` shows for a UTC time."""
    if moment is None:
        return ""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")


def parse_datetime_local(text: str) -> dt.datetime | None:
    """A time typed in a filter (read as UTC), or None when empty; ValueError if not a time."""
    text = text.strip()
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment
