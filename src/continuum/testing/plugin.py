"""The pytest plugin: installing continuum-python is enough (entry point `pytest11`).

    def test_order(continuum_env):
        run_id = continuum_env.start(OrderFlow, {"amount": 10})
        assert continuum_env.result(run_id) == {...}

    @pytest.mark.continuum(workflows=[OrderFlow, ShipFlow], paranoid=True)
    def test_shipping(continuum_env): ...

`continuum_env` is a `continuum.testing.WorkflowEnvironment`, new for each test and
closed after it. What it registers, first found wins: the marker's `workflows=`;
the `continuum_workflows` fixture, which a module or a conftest.py may override;
by default, every workflow class the test's module defines or imports. (Starting a
class registers it too.) Paranoid mode: the marker's `paranoid=`, else
`--continuum-paranoid` on the command line or `continuum_paranoid = true` in the
pytest configuration, which turn it on for every test. Other marker keywords go
to `WorkflowEnvironment` (`start_time=`, `max_attempts=`).

This module imports nothing from Continuum until a test asks for the fixture, so
a pytest run that never uses it pays nothing for it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from continuum.testing import WorkflowEnvironment
    from continuum.workflow import Workflow

MARKER = "continuum"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("continuum", "Continuum workflows")
    group.addoption(
        "--continuum-paranoid",
        action="store_true",
        default=False,
        help="Run every continuum_env in paranoid mode (replay each journal write at once).",
    )
    parser.addini(
        "continuum_paranoid",
        type="bool",
        default=False,
        help="Run every continuum_env in paranoid mode.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(workflows=None, paranoid=None, start_time=None, max_attempts=None): "
        "how the continuum_env fixture is set up (workflows it runs, paranoid mode, "
        "where its virtual clock starts)",
    )


@pytest.fixture
def continuum_workflows(request: pytest.FixtureRequest) -> list[type[Workflow]]:
    """The workflows `continuum_env` registers unless the test's marker names them:
    every workflow class the test's module defines or imports. Override it to choose."""
    from continuum.workflow import Workflow  # noqa: PLC0415 - nothing at pytest start-up

    module = getattr(request, "module", None)
    if module is None:
        return []
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Workflow)
        and value.__dict__.get("_continuum_entrypoint") is not None
    ]


@pytest.fixture
def continuum_env(
    request: pytest.FixtureRequest, continuum_workflows: list[type[Workflow]]
) -> Iterator[WorkflowEnvironment]:
    """A `continuum.testing.WorkflowEnvironment` for this test (see the module docstring)."""
    from continuum.testing import WorkflowEnvironment  # noqa: PLC0415

    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(
                f"@pytest.mark.{MARKER} takes keywords only: workflows=[...], paranoid=True"
            )
        options = {key: value for key, value in marker.kwargs.items() if value is not None}
    workflows = options.pop("workflows", continuum_workflows)
    config = request.config
    if "paranoid" not in options:
        options["paranoid"] = bool(
            config.getoption("continuum_paranoid") or config.getini("continuum_paranoid")
        )
    with WorkflowEnvironment(workflows, **options) as env:
        yield env
