"""OpenTelemetry for Continuum: the engine's telemetry events as spans and metrics.

    pip install 'continuum-python[otel]'

    import continuum.otel

    instrumentation = continuum.otel.instrument(app)   # before app.start(...)
    ...
    instrumentation.uninstrument()

Built on the OpenTelemetry API alone: spans and metrics go to whatever SDK the
application configured (the global providers, or `tracer_provider=` and
`meter_provider=`). Every attempt of a run is a span whose parent is the trace
context that was current around `app.start(...)`, stored with the run, so the
attempts of one run join one trace on whichever node and however much later
they happen. What exists and how to set it up: docs/opentelemetry.md.

The rest of Continuum never imports OpenTelemetry; this package imports it only
when `instrument()` is called.
"""

from __future__ import annotations

import importlib
import threading
import weakref
from typing import TYPE_CHECKING, Any

from continuum.errors import ConfigurationError
from continuum.instance import Continuum

if TYPE_CHECKING:
    from continuum.otel.bridge import Bridge

__all__ = ["Instrumentation", "OpenTelemetryNotInstalled", "instrument"]

INSTALL_HINT = "pip install 'continuum-python[otel]'"


class OpenTelemetryNotInstalled(ConfigurationError):
    """`continuum.otel.instrument()` needs the OpenTelemetry API, which is not installed."""


class Instrumentation:
    """What `instrument(app)` returns: the live bridge of one instance.

    `uninstrument()` detaches it: no more spans or metrics for the instance,
    and runs started from then on store no trace context.
    """

    __slots__ = ("__weakref__", "_bridge", "app", "handler_id")

    def __init__(self, app: Continuum, bridge: Bridge) -> None:
        self.app = app
        self._bridge = bridge
        self.handler_id = bridge.handler_id

    @property
    def active(self) -> bool:
        return self._bridge.active

    def uninstrument(self) -> None:
        """Stop instrumenting the instance. Calling it again does nothing."""
        with _lock:
            if _instrumented.get(self.app) is self:
                del _instrumented[self.app]
        self._bridge.close()

    def __repr__(self) -> str:
        state = "active" if self.active else "uninstrumented"
        return f"<continuum.otel.Instrumentation of {self.app!r}, {state}>"


_lock = threading.Lock()
_instrumented: weakref.WeakKeyDictionary[Continuum, Instrumentation] = weakref.WeakKeyDictionary()


def instrument(
    app: Continuum, *, tracer_provider: Any = None, meter_provider: Any = None
) -> Instrumentation:
    """Turn the telemetry events of `app` into OpenTelemetry spans and metrics.

    `tracer_provider` / `meter_provider` default to OpenTelemetry's global ones.
    Instrumenting an instance that is already instrumented is a
    ConfigurationError: call `uninstrument()` on the first one first. Call it
    before the instance starts runs: a run started earlier has no trace context
    stored, and each of its attempts begins a trace of its own.
    """
    if not isinstance(app, Continuum):
        raise ConfigurationError(
            f"continuum.otel.instrument() takes a continuum.Continuum instance, not {app!r}"
        )
    bridge_module = _load_bridge()
    with _lock:
        existing = _instrumented.get(app)
        if existing is not None and existing.active:
            raise ConfigurationError(
                f"{app!r} is already instrumented for OpenTelemetry; call uninstrument() on "
                "the Instrumentation that instrument() returned before instrumenting it again"
            )
        capture = getattr(app, "trace_context_capture", None)
        if capture is not None:
            raise ConfigurationError(
                f"{app!r} already has a trace_context_capture hook ({capture!r}); "
                "continuum.otel sets its own: remove the other one first"
            )
        bridge = bridge_module.Bridge(
            app, tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        instrumentation = Instrumentation(app, bridge)
        _instrumented[app] = instrumentation
    return instrumentation


def _load_bridge() -> Any:
    try:
        return importlib.import_module("continuum.otel.bridge")
    except ImportError as exc:
        if not _is_missing_opentelemetry(exc):
            raise
        raise OpenTelemetryNotInstalled(
            "continuum.otel needs the OpenTelemetry API, which is not installed: "
            f"{INSTALL_HINT} (and an OpenTelemetry SDK, such as opentelemetry-sdk, to "
            f"export what it records). The import failed with: {exc}"
        ) from exc


def _is_missing_opentelemetry(exc: ImportError) -> bool:
    name = exc.name or ""
    return name == "opentelemetry" or name.startswith("opentelemetry.")
