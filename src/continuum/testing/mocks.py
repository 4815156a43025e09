"""Activities replaced for one environment: a function, a fixed result or an exception.

    charge = env.mock_activity(charge_card, returns={"id": "ch_1"})
    env.result(env.start(OrderFlow, order))
    assert charge.calls[0].args == ("4242", 10)

A mock stands in for the activity's function only: the call is journaled, retried
under the activity's `Retry`, timed out and compensated exactly as the real one
would be. It applies to runs of its environment alone (another instance in the
same process calls the real function) and ends with the environment, or earlier
with `undo()` (or at the end of a `with` block).
"""

from __future__ import annotations

import datetime as dt
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from continuum import serialization
from continuum.errors import ConfigurationError
from continuum.runtime import context


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


@dataclass(frozen=True, slots=True)
class Call:
    """One invocation of a mocked activity (each retry is one)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    run_id: str | None  # the run that made it
    at: dt.datetime  # on the environment's clock


class MockedActivity:
    """The record of a mocked activity's calls; `undo()` puts the real function back."""

    def __init__(
        self,
        name: str,
        respond: Callable[..., Any],
        *,
        is_async: bool,
        clock: Callable[[], dt.datetime],
        remove: Callable[[MockedActivity], None],
    ) -> None:
        self.name = name
        self.calls: list[Call] = []
        self._respond = respond
        self._is_async = is_async
        self._clock = clock
        self._remove = remove
        self._lock = threading.Lock()  # a timed activity runs in a thread of its own

    @property
    def count(self) -> int:
        return len(self.calls)

    @property
    def called(self) -> bool:
        return bool(self.calls)

    @property
    def last(self) -> Call | None:
        return self.calls[-1] if self.calls else None

    def undo(self) -> None:
        """The activity calls its real function again in this environment."""
        self._remove(self)

    def __enter__(self) -> MockedActivity:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.undo()

    def __repr__(self) -> str:
        return f"<MockedActivity {self.name} calls={self.count}>"

    def stand_in(self) -> Callable[..., Any]:
        """The function the activity calls in place of its own, for the current run."""
        ctx = context.current()
        run_id = None if ctx is None else ctx.run_id

        def record(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            with self._lock:
                self.calls.append(Call(args, dict(kwargs), run_id, self._clock()))

        if self._is_async:

            async def call_async(*args: Any, **kwargs: Any) -> Any:
                record(args, kwargs)
                value = self._respond(*args, **kwargs)
                return await value if inspect.isawaitable(value) else value

            return call_async

        def call(*args: Any, **kwargs: Any) -> Any:
            record(args, kwargs)
            return self._respond(*args, **kwargs)

        return call


def responder(
    name: str,
    *,
    is_async: bool,
    returns: Any,
    raises: BaseException | type[BaseException] | None,
    side_effect: Callable[..., Any] | None,
) -> Callable[..., Any]:
    """What a mock does when called, from the one of `returns`, `raises` or
    `side_effect` given (none: it returns None)."""
    given = [
        what
        for what, unset in (
            ("returns", returns is UNSET),
            ("raises", raises is None),
            ("side_effect", side_effect is None),
        )
        if not unset
    ]
    if len(given) > 1:
        raise ConfigurationError(
            f"mock_activity({name}) takes one of returns=, raises= or side_effect=, "
            f"not {' and '.join(given)}"
        )
    if side_effect is not None:
        if not callable(side_effect):
            raise ConfigurationError(f"mock_activity({name}, side_effect=) takes a callable")
        if inspect.iscoroutinefunction(side_effect) and not is_async:
            raise ConfigurationError(
                f"mock_activity({name}, side_effect=) is async but {name} is a def activity: "
                "give a plain function"
            )
        return side_effect
    if raises is not None:
        if not (
            isinstance(raises, Exception)
            or (isinstance(raises, type) and issubclass(raises, Exception))
        ):
            raise ConfigurationError(
                f"mock_activity({name}, raises=) takes an exception or an exception class, "
                f"not {raises!r}"
            )
        error = raises

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise error

        return fail
    value = None if returns is UNSET else returns
    serialization.dumps(value, what=f"mock_activity({name}, returns=)")  # refused here, not later

    def succeed(*args: Any, **kwargs: Any) -> Any:
        return value

    return succeed


def activity_name(fn: object) -> tuple[str, bool]:
    """The name and async-ness of an `@continuum.activity` function."""
    spec = getattr(fn, "__continuum_activity__", None)
    if spec is None:
        shown = getattr(fn, "__qualname__", None) or repr(fn)
        raise ConfigurationError(
            f"mock_activity() takes an @continuum.activity function, not {shown}"
        )
    return str(spec.name), bool(spec.is_async)
