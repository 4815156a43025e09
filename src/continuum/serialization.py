"""JSON is the only stored format: inputs, outputs, results and payloads.

Values are normalised by a round trip, so the first execution of a workflow
sees exactly what a replay will read back from the journal (a tuple becomes a
list, integer dict keys become strings). Nothing stored is ever unpickled.
"""

from __future__ import annotations

import json
import json.scanner
from typing import Any

from continuum.errors import SerializationError

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_decoder = json.JSONDecoder()
_decode = _decoder.decode
# The decoder is the scanner's documented context; the stubs type it too narrowly.
_scan = json.scanner.make_scanner(_decoder)  # type: ignore[arg-type]


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
    if text is None:
        return None
    # Replay decodes one payload per journaled event. What is stored is what `dumps`
    # wrote, one value with no surrounding space, which the C scanner reads at a
    # quarter of the cost of the full decoder; anything else takes the full decoder.
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return _decode(text)  # raises the usual JSONDecodeError
    return value if end == len(text) else _decode(text)


def normalise(value: Any, *, what: str) -> tuple[Any, str]:
    """Return (the value as replay will see it, its JSON text)."""
    text = dumps(value, what=what)
    return _decode(text), text
