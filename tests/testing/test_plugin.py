"""The pytest plugin, run as users run it: installed, found through its entry point."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

FLOWS = """
import continuum


@continuum.activity
def greet(name):
    raise AssertionError("the tests mock this")


class Hello(continuum.Workflow):
    def run(self, name):
        continuum.sleep(7 * 86400)
        return greet(name)


SEEN = set()


class Drifting(continuum.Workflow, determinism="off"):
    def run(self, key):
        first = key not in SEEN
        SEEN.add(key)
        if first:
            return greet(key)
        return continuum.uuid4().hex
"""


def test_the_plugin_is_registered_by_the_package_entry_point() -> None:
    found = [ep for ep in entry_points(group="pytest11") if ep.name == "continuum"]
    assert [ep.value for ep in found] == ["continuum.testing.plugin"]


def test_continuum_env_needs_no_conftest(pytester: pytest.Pytester) -> None:
    """A fresh pytest process: only the installed entry point can give the fixture."""
    pytester.makepyfile(
        flows_module=FLOWS,
        test_hello="""
        import datetime as dt

        from flows_module import Hello, greet


        def test_hello(continuum_env):
            greeted = continuum_env.mock_activity(greet, returns="hi ana")
            run_id = continuum_env.start(Hello, "ana")
            assert continuum_env.result(run_id) == "hi ana"
            assert greeted.calls[0].at == dt.datetime(2025, 1, 8, tzinfo=dt.UTC)
            assert continuum_env.paranoid is False


        def test_a_fresh_environment_per_test(continuum_env):
            assert continuum_env.app.runs() == []
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_marker_sets_workflows_and_paranoid_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        flows_module=FLOWS,
        test_marked="""
        import datetime as dt

        import pytest

        import continuum
        from flows_module import Drifting, Hello, greet


        @pytest.mark.continuum(workflows=[Drifting], paranoid=True)
        def test_paranoid_catches_drift(continuum_env):
            assert continuum_env.paranoid is True
            continuum_env.mock_activity(greet, returns="x")
            continuum_env.start(Drifting, "k")
            with pytest.raises(continuum.NondeterminismError, match="position 0"):
                continuum_env.run_until_idle()


        @pytest.mark.continuum(start_time=dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
        def test_start_time(continuum_env):
            assert continuum_env.now().year == 2031


        @pytest.mark.continuum("Hello")
        def test_positional_marker_arguments_are_refused(continuum_env):
            pass
        """,
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*takes keywords only*"])


def test_the_default_workflows_are_the_modules_own_and_can_be_overridden(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        flows_module=FLOWS,
        test_default="""
        from flows_module import Drifting, Hello


        def test_registered(continuum_env):
            assert set(continuum_env.app.versions.workflows) == {Hello.workflow, Drifting.workflow}
        """,
        test_override="""
        import pytest

        from flows_module import Drifting, Hello


        @pytest.fixture
        def continuum_workflows():
            return [Hello]


        def test_registered(continuum_env):
            assert set(continuum_env.app.versions.workflows) == {Hello.workflow}
        """,
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_paranoid_mode_for_a_whole_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_flag="""
        def test_flag(continuum_env):
            assert continuum_env.paranoid is True
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "--continuum-paranoid").assert_outcomes(passed=1)
    pytester.makeini("[pytest]\ncontinuum_paranoid = true\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_failing_workflow_test_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        flows_module=FLOWS,
        test_fails="""
        from flows_module import Hello


        def test_the_real_activity_runs(continuum_env):
            continuum_env.result(continuum_env.start(Hello, "x"))
        """,
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RunFailed*the tests mock this*"])


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("continuum", ["continuum.testing", "pytest"]),
        ("continuum.testing.plugin", ["continuum.testing.environment", "continuum.runtime.replay"]),
    ],
)
def test_importing_loads_nothing_it_does_not_need(module: str, absent: list[str]) -> None:
    code = f"import sys, {module}; print([m for m in {absent!r} if m in sys.modules])"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"
