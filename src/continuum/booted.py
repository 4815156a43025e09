"""The booted instances, and the module-level API that acts on the default one.

`continuum.start/signal/cancel/get/result` act on the only booted instance, or
on the booted one named "default".
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from continuum.errors import NoDefaultInstance

if TYPE_CHECKING:
    from continuum.instance import Continuum
    from continuum.runs import RunInfo
    from continuum.workflow import Workflow

_booted: dict[str, Continuum] = {}
_lock = threading.Lock()


def add(app: Continuum) -> None:
    with _lock:
        _booted[app.name] = app


def remove(app: Continuum) -> None:
    with _lock:
        if _booted.get(app.name) is app:
            del _booted[app.name]


def default_instance() -> Continuum:
    """The only booted instance, or the booted one named "default"."""
    with _lock:
        booted = dict(_booted)
    if len(booted) == 1:
        return next(iter(booted.values()))
    if "default" in booted:
        return booted["default"]
    if not booted:
        raise NoDefaultInstance(
            "no Continuum instance is booted: create one with continuum.Continuum(...) "
            "and call boot() (or use it as a context manager) before continuum.start()"
        )
    raise NoDefaultInstance(
        f"several Continuum instances are booted ({sorted(booted)}) and none is named "
        "'default': call the methods of the instance you mean"
    )


def start(workflow_cls: type[Workflow], input: Any = None, *, run_id: str | None = None) -> str:
    """`start` on the default instance."""
    return default_instance().start(workflow_cls, input, run_id=run_id)


def signal(run_id: str, name: str, payload: Any = None, *, delivery_id: str | None = None) -> None:
    """`signal` on the default instance."""
    default_instance().signal(run_id, name, payload, delivery_id=delivery_id)


def cancel(run_id: str) -> bool:
    """`cancel` on the default instance."""
    return default_instance().cancel(run_id)


def get(run_id: str) -> RunInfo:
    """`get` on the default instance."""
    return default_instance().get(run_id)


def result(run_id: str, timeout: float | None = None) -> Any:
    """`result` on the default instance."""
    return default_instance().result(run_id, timeout)
