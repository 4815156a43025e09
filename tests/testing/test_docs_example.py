"""docs/testing.md's example, copied into a fresh project and run as its reader would."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).parents[2] / "docs" / "testing.md"

RECORD = """
from continuum.testing import WorkflowEnvironment
from shop.flows import OrderFlow, charge_card, ship

with WorkflowEnvironment([OrderFlow]) as env:
    env.mock_activity(charge_card, returns={"id": "ch_9"})
    env.mock_activity(ship, returns="TRK-9")
    run_id = env.start(OrderFlow, {"card": "1", "amount": 5, "item": "cup"}, run_id="approved")
    env.run_due()
    env.signal(run_id, "approval", {"by": "bo"})
    env.result(run_id)
    env.export_history(run_id, "tests/histories/approved.json")
"""


def block_after(label: str) -> str:
    """The python block that follows the line naming `label` in the guide."""
    text = GUIDE.read_text()
    found = re.search(rf"`{re.escape(label)}`:\n\n```python\n(.*?)```", text, re.DOTALL)
    assert found is not None, f"docs/testing.md has no code block for {label}"
    return found.group(1)


def test_the_guide_example_runs_and_its_golden_history_catches_a_change(
    pytester: pytest.Pytester,
) -> None:
    flows = block_after("shop/flows.py")
    pytester.mkpydir("shop")
    (pytester.path / "shop" / "flows.py").write_text(flows)
    (pytester.path / "tests" / "histories").mkdir(parents=True)
    (pytester.path / "tests" / "test_shop.py").write_text(block_after("tests/test_shop.py"))
    subprocess.run([sys.executable, "-c", RECORD], cwd=pytester.path, check=True)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "tests")
    result.assert_outcomes(passed=4)

    # The next change renames the signal: the recorded history no longer replays.
    (pytester.path / "shop" / "flows.py").write_text(flows.replace('"approval"', '"approved"'))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "tests", "-k", "histories")
    result.assert_outcomes(failed=1, deselected=3)
    result.stdout.fnmatch_lines(["*NondeterminismError*position 1*signal 'approval'*"])
