"""Checks for values that enter the public API: durations, counts and identifiers.

Every setting or argument that is a number of seconds, a count, a run id or a
signal name goes through one of these, so each is refused up front, before
anything is written, with a `ConfigurationError` that names it and says what
is allowed:

    duration(0.5, name="Continuum(poll_interval=)")          # -> 0.5
    duration(None, name="result(timeout=)", allow_zero=True, allow_none=True)
    identifier(run_id, name="start(run_id=)")

`name` is how the message names the argument, e.g. "Continuum(lease_seconds=)".
"""

from __future__ import annotations

import math
import numbers
from typing import Literal, overload

from continuum.errors import ConfigurationError

MAX_IDENTIFIER_LENGTH = 255
# The longest duration anything accepts: a century. Longer (and infinite) waits
# overflow both backends' timestamps and intervals and Python's thread waits.
MAX_SECONDS = 100 * 365.25 * 86400
_MAX_SECONDS_TEXT = "3155760000 (100 years)"


def shown(value: object, limit: int = 60) -> str:
    """`repr(value)` for a message, cut short when long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def _real(value: object) -> bool:
    """A real number, and not a bool (True is an int, but never a number of seconds)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int too large for a float
        return math.inf


@overload
def duration(
    value: object, *, name: str, allow_zero: bool = ..., allow_none: Literal[False] = ...
) -> float: ...


@overload
def duration(
    value: object, *, name: str, allow_zero: bool = ..., allow_none: Literal[True]
) -> float | None: ...


def duration(
    value: object, *, name: str, allow_zero: bool = False, allow_none: bool = False
) -> float | None:
    """A number of seconds: finite, > 0 (>= 0 with `allow_zero`), at most a century.

    Refuses NaN, infinities, bools and anything that is not a real number;
    None only with `allow_none` (it means "no limit" to the caller).
    """
    if value is None and allow_none:
        return None
    if _real(value):
        seconds = _float(value)
        # NaN fails every comparison, so this refuses NaN, infinities and negatives.
        if (seconds >= 0 if allow_zero else seconds > 0) and seconds <= MAX_SECONDS:
            return seconds
    bound = ">= 0" if allow_zero else "> 0"
    nothing = " (or None for no limit)" if allow_none else ""
    raise ConfigurationError(
        f"{name} must be a finite number of seconds {bound} and at most {_MAX_SECONDS_TEXT}"
        f"{nothing}, got {shown(value)}"
    )


def number(value: object, *, name: str, minimum: float, maximum: float | None = None) -> float:
    """A finite real number in [minimum, maximum] (no maximum when None); not a bool."""
    if _real(value):
        result = _float(value)
        if math.isfinite(result) and minimum <= result and (maximum is None or result <= maximum):
            return result
    rule = f"between {minimum:g} and {maximum:g}" if maximum is not None else f">= {minimum:g}"
    raise ConfigurationError(f"{name} must be a finite number {rule}, got {shown(value)}")


def count(value: object, *, name: str, minimum: int = 1) -> int:
    """An int >= `minimum` (not a bool)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        whole = int(value)
        if whole >= minimum:
            return whole
    raise ConfigurationError(f"{name} must be an int >= {minimum}, got {shown(value)}")


def is_identifier(value: object, *, max_length: int | None = MAX_IDENTIFIER_LENGTH) -> bool:
    """True for a usable run id or signal name: a non-empty str of at most 255
    characters (`max_length`; None for no limit), with no NUL character and no
    lone surrogate."""
    if not isinstance(value, str) or not value:
        return False
    if max_length is not None and len(value) > max_length:
        return False
    if value.isascii():  # O(1) in CPython: the common case is decided here
        return "\x00" not in value
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False  # a lone surrogate: not text any database can store
    return True


def identifier(value: object, *, name: str, max_length: int | None = MAX_IDENTIFIER_LENGTH) -> str:
    """A run id or signal name that every backend stores as given (see `is_identifier`)."""
    if is_identifier(value, max_length=max_length):
        return value  # type: ignore[return-value]
    raise ConfigurationError(f"{name} must be {identifier_rule(max_length)}, got {shown(value)}")


def identifier_rule(max_length: int | None = MAX_IDENTIFIER_LENGTH) -> str:
    """What `identifier` allows, for messages."""
    length = "" if max_length is None else f" of at most {max_length} characters"
    return f"a non-empty str{length}, with no NUL character and no lone surrogate"
