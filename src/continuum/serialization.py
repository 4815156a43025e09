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
    """Encode `value`, or raise SerializationError naming `what` it was.

    Refused: what JSON cannot hold, values nested too deeply to encode, and
    text with a lone surrogate (no database can store it as UTF-8).
    """
    try:
        text = _encoder.encode(value)
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"{what} is not JSON serializable ({exc}); pass only dicts, lists, str, "
            "int, float (not NaN or infinity), bool and None, or convert the value first"
        ) from None
    except RecursionError:
        raise SerializationError(
            f"{what} is nested too deeply to serialize (lists and dicts hundreds of levels "
            "deep, or more); flatten the value"
        ) from None
    # The encoder keeps non-ASCII text as it is; isascii() is O(1), so only text
    # that has non-ASCII characters pays for the check that it is valid Unicode.
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SerializationError(
                f"{what} is not JSON serializable: it contains the lone surrogate "
                f"{exc.object[exc.start : exc.start + 1]!r}, which is not valid Unicode text "
                "and cannot be stored; fix the text (bytes decoded with errors='surrogateescape' "
                "often carry one)"
            ) from None
    return text


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
