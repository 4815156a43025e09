"""Events in the style of Erlang's :telemetry.

    continuum.telemetry.attach("log-unknown", ("continuum", "run", "unknown_version"), handler)

`handler(event, measurements, metadata)` runs synchronously in the thread that
emitted the event. A handler that raises is detached and logged; it never
breaks a run. `events()` lists every event with its measurement and metadata keys.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from continuum.telemetry.catalogue import Event, EventSpec, events

__all__ = [
    "Event",
    "EventSpec",
    "Handler",
    "attach",
    "attach_many",
    "detach",
    "events",
    "execute",
    "list_handlers",
    "wanted",
]

Handler = Callable[[Event, Mapping[str, Any], Mapping[str, Any]], None]

logger = logging.getLogger("continuum.telemetry")

_lock = threading.Lock()
# Copy-on-write: emitters read this mapping without taking the lock.
_by_event: dict[Event, tuple[tuple[str, Handler], ...]] = {}
_ids: dict[str, tuple[Event, ...]] = {}


def attach(handler_id: str, event: Iterable[str], handler: Handler) -> None:
    """Call `handler` for every emission of `event`. `handler_id` must be unused."""
    attach_many(handler_id, [tuple(event)], handler)


def attach_many(handler_id: str, events: Iterable[Iterable[str]], handler: Handler) -> None:
    """Call `handler` for each of `events`, under one `handler_id`."""
    wanted = tuple(tuple(e) for e in events)
    if not callable(handler):
        raise TypeError(
            "telemetry handler must be callable as handler(event, measurements, metadata)"
        )
    global _by_event
    with _lock:
        if handler_id in _ids:
            raise ValueError(
                f"telemetry handler id {handler_id!r} is already attached; detach it first"
            )
        table = dict(_by_event)
        for event in wanted:
            table[event] = (*table.get(event, ()), (handler_id, handler))
        _ids[handler_id] = wanted
        _by_event = table


def detach(handler_id: str) -> bool:
    """Remove a handler; returns False when no handler had that id."""
    global _by_event
    with _lock:
        events = _ids.pop(handler_id, None)
        if events is None:
            return False
        table = dict(_by_event)
        for event in events:
            kept = tuple(h for h in table.get(event, ()) if h[0] != handler_id)
            if kept:
                table[event] = kept
            else:
                table.pop(event, None)
        _by_event = table
        return True


def wanted(event: Event) -> bool:
    """Whether anything listens to `event` (lets emitters skip building metadata)."""
    return event in _by_event


def list_handlers() -> dict[str, tuple[Event, ...]]:
    return dict(_ids)


def execute(event: Event, measurements: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
    """Emit `event` to its handlers. Never raises."""
    handlers = _by_event.get(event)
    if not handlers:
        return
    for handler_id, handler in handlers:
        try:
            handler(event, measurements, metadata)
        except Exception:
            logger.exception(
                "telemetry handler %r raised on %r and was detached", handler_id, event
            )
            detach(handler_id)
