"""JSON is the only stored format: inputs, outputs, results and payloads.

Values are normalised by a round trip, so the first execution of a workflow
sees exactly what a replay will read back from the journal (a tuple becomes a
list, integer dict keys become strings). Nothing stored is ever unpickled.
"""

from __future__ import annotations

import json
from typing import Any

from continuum.errors import SerializationError

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_decode = json.JSONDecoder().decode


def dumps(value: Any, *, what: str) -> str:
    """Encode `value`, or raise SerializationError naming `what` it was."""
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"{what} is not JSON serializable ({exc}); pass only dicts, lists, str, "
            "int, float (not NaN or infinity), bool and None, or convert the value first"
        ) from None


def loads(text: str | None) -> Any:
    return None if text is None else _decode(text)


def normalise(value: Any, *, what: str) -> tuple[Any, str]:
    """Return (the value as replay will see it, its JSON text)."""
    text = dumps(value, what=what)
    return _decode(text), text
