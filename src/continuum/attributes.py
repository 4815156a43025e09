"""Search attributes: operator metadata on a run, for finding it again.

    run_id = app.start(Order, order, attributes={"customer": "c-42", "priority": 2})
    app.set_attributes(run_id, {"escalated": True})
    page = app.query(attributes={"customer": "c-42"})

Attributes are not workflow state: the workflow never reads them, replay never
sees them, and setting them never wakes a run. Keys are non-empty strings;
values are strings, integers, floats or booleans (None in `set_attributes`
removes a key). A query matches runs whose attributes hold every key given,
with an equal value of the same JSON type.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from continuum import validation
from continuum.errors import ConfigurationError

MAX_KEYS = 64
MAX_KEY_LENGTH = 128
MAX_TEXT_LENGTH = 1024
Scalar = str | int | float | bool


def encode(attributes: object, *, name: str, allow_none: bool = False) -> str:
    """`attributes` as a JSON object, or a ConfigurationError saying what is wrong."""
    if not isinstance(attributes, Mapping):
        raise ConfigurationError(
            f"{name} takes a dict of attribute names to values, not {validation.shown(attributes)}"
        )
    if len(attributes) > MAX_KEYS:
        raise ConfigurationError(
            f"{name} takes at most {MAX_KEYS} attributes, got {len(attributes)}"
        )
    checked: dict[str, Any] = {}
    for key, value in attributes.items():
        validation.identifier(key, name=f"{name} key", max_length=MAX_KEY_LENGTH)
        if value is None and allow_none:
            checked[key] = None
            continue
        if not isinstance(value, Scalar) or (isinstance(value, float) and not math.isfinite(value)):
            allowed = "a str, int, float or bool" + (" (None removes it)" if allow_none else "")
            raise ConfigurationError(
                f"{name}[{key!r}] must be {allowed}, got {validation.shown(value)}"
            )
        if (
            isinstance(value, str)
            and value
            and not validation.is_identifier(value, max_length=MAX_TEXT_LENGTH)
        ):
            raise ConfigurationError(
                f"{name}[{key!r}] must be a str of at most {MAX_TEXT_LENGTH} characters, with "
                f"no NUL character and no lone surrogate, got {validation.shown(value)}"
            )
        checked[key] = value
    return json.dumps(checked, separators=(",", ":"), sort_keys=True)


def decode(text: str | None) -> dict[str, Any]:
    """The attributes a run has (an empty dict for none)."""
    if text is None:
        return {}
    value = json.loads(text)
    # by key: backends keep the keys in different orders (jsonb: shortest first)
    return dict(sorted(value.items())) if isinstance(value, dict) else {}


def parse_attribute(text: str) -> dict[str, Any]:
    """`key=value` as typed in a filter (the CLI's `--attr`, the observer's field): one
    attribute to match. The value is read as JSON when it is a number, true, false or
    a quoted string, and as text otherwise (`customer=c-42`)."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise ValueError(f"the attribute filter {text!r} is not key=value (e.g. customer=c-42)")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if isinstance(value, (dict, list)) or value is None:
        value = raw
    return {key: value}
