"""The package is typed for its users: `mypy --strict` on an app reads continuum's types."""

from __future__ import annotations

from pathlib import Path

import pytest

import continuum
from tests.conftest import strict_mypy

USER_APP = """\
import continuum


@continuum.activity(retry=continuum.Retry(max_attempts=3))
def charge(card: str, amount: int) -> str:
    return f"{card}:{amount}"


class Order(continuum.Workflow, version=2):
    def run(self, input: dict[str, int]) -> str:
        return charge("4242", input["amount"])


def place(app: continuum.Continuum) -> str:
    run_id: str = app.start(Order, {"amount": 10})
    return run_id


def wrong(app: continuum.Continuum) -> int:
    return app.start(Order, None)  # line 20: start returns a str
"""


def test_the_package_ships_its_py_typed_marker() -> None:
    assert (Path(continuum.__file__).parent / "py.typed").is_file()


@pytest.mark.slow  # mypy reads the package and the standard library: seconds
def test_mypy_strict_on_a_user_app_checks_against_continuums_types(tmp_path: Path) -> None:
    errors, report = strict_mypy(tmp_path, "userapp.py", USER_APP)
    assert "missing library stubs or py.typed marker" not in report, report
    # the deliberate mistake is caught, and nothing in the correct code is flagged
    assert errors == [
        'userapp.py:20: error: Incompatible return value type (got "str", expected "int")  '
        "[return-value]"
    ], report
