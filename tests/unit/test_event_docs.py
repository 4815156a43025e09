"""docs/telemetry.md lists the catalogue exactly (regenerate its table from this test)."""

from __future__ import annotations

from pathlib import Path

from continuum.telemetry import EventSpec, events

DOC = Path(__file__).parents[2] / "docs" / "telemetry.md"
_RUN = ("run_id", "workflow", "version_hash", "instance", "node")
_ATTEMPT = ("attempt", "trace_context")


def row(spec: EventSpec) -> str:
    common: tuple[str, ...] = ("instance", "node")
    if "run_id" in spec.metadata and "workflow" in spec.metadata:
        common = _RUN + (_ATTEMPT if "attempt" in spec.metadata else ())
    other = [key for key in spec.metadata if key not in common]
    name = ".".join(spec.event[1:])
    measurements = ", ".join(f"`{m}`" for m in spec.measurements)
    return (
        f"| `{name}` | {measurements} | {', '.join(f'`{m}`' for m in other)} | {spec.description} |"
    )


def table() -> str:
    return "\n".join(row(spec) for spec in events())


def test_the_docs_list_every_event_with_its_keys() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert table() in text, (
        "docs/telemetry.md is out of date: paste tests.unit.test_event_docs.table()"
    )
