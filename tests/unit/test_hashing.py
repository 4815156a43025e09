"""The version hash: which changes move it, which do not, and that it is stable."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from continuum.errors import WorkflowDefinitionError
from continuum.hashing import HASH_LENGTH, hash_class_source

GOLDEN = Path(__file__).parents[1] / "golden"
SRC = Path(__file__).parents[2] / "src"

BASE = """
class Flow(Workflow, version=1):
    def run(self, input):
        total = charge(input["card"], input["amount"])
        return {"total": total}
"""


def h(source: str) -> str:
    return hash_class_source(source)


def test_hash_is_lowercase_hex_of_fixed_length() -> None:
    value = h(BASE)
    assert len(value) == HASH_LENGTH >= 16
    assert value == value.lower()
    int(value, 16)


@pytest.mark.parametrize(
    "variant",
    [
        # comments
        BASE.replace("def run(self, input):", "def run(self, input):  # the entry\n        # hi"),
        # docstrings on the class and the method
        BASE.replace("version=1):\n", 'version=1):\n    """Orders."""\n').replace(
            "input):\n", 'input):\n        """Run it."""\n'
        ),
        # blank lines
        BASE.replace("\n        return", "\n\n\n        return"),
        # indentation width
        """
class Flow(Workflow, version=1):
  def run(self, input):
    total = charge(input["card"], input["amount"])
    return {"total": total}
""",
        # line wrapping and redundant parentheses
        """
class Flow(Workflow, version=1):
    def run(self, input):
        total = charge(
            input["card"],
            input["amount"],
        )
        return ({
            "total": total,
        })
""",
        # version= alone, and the class name and bases
        BASE.replace("version=1", "version=7"),
        BASE.replace("class Flow(Workflow, version=1)", "class Renamed(Base, workflow='x')"),
    ],
)
def test_hash_ignores_presentation_and_metadata(variant: str) -> None:
    assert h(variant) == h(BASE)


@pytest.mark.parametrize(
    "change",
    [
        ('input["card"]', 'input["cardholder"]'),
        ('"total": total', '"sum": total'),
        ("return", "total = total\n        return"),
        ("def run(self, input):", "def run(self, data):"),
        ("charge(", "refund("),
        (
            "def run(self, input):",
            "def helper(self):\n        return 1\n\n    def run(self, input):",
        ),
        ('input["amount"]', "2"),
    ],
)
def test_hash_changes_with_any_code_change(change: tuple[str, str]) -> None:
    assert h(BASE.replace(*change)) != h(BASE)


def test_constants_of_different_types_differ() -> None:
    ones = [h(BASE.replace('input["amount"]', literal)) for literal in ("1", "1.0", "True", "'1'")]
    assert len(set(ones)) == 4


def test_a_string_statement_that_is_not_first_still_counts() -> None:
    with_string = BASE.replace("        return", '        "not a docstring"\n        return')
    assert h(with_string) != h(BASE)


def test_golden_hashes_on_this_python() -> None:
    sys.path.insert(0, str(GOLDEN))
    try:
        import check_hashes
    finally:
        sys.path.remove(str(GOLDEN))
    expected = json.loads((GOLDEN / "hashes.json").read_text())
    assert check_hashes.compute() == expected
    assert len(expected) >= 4


def _other_pythons() -> list[str]:
    """Interpreters >= 3.11 on this machine that actually run, one per version."""
    candidates = [shutil.which(f"python3.{minor}") for minor in range(11, 16)]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        candidates += [str(p) for p in sorted(pyenv.glob("3.*/bin/python3"))]
    by_version: dict[tuple[int, ...], str] = {}
    for exe in filter(None, candidates):
        probe = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if probe.returncode != 0:
            continue
        version = tuple(int(part) for part in probe.stdout.strip().split("."))
        if version >= (3, 11) and version != sys.version_info[:2]:
            by_version.setdefault(version, exe)
    return [exe for _, exe in sorted(by_version.items())]


@pytest.mark.parametrize(
    "python",
    _other_pythons()
    or [pytest.param("none", marks=pytest.mark.skip("no other Python >= 3.11 found"))],
)
def test_golden_hashes_on_every_python_found(python: str) -> None:
    completed = subprocess.run(
        [python, str(GOLDEN / "check_hashes.py"), "--check"],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_source_without_the_class_is_a_clear_error() -> None:
    with pytest.raises(WorkflowDefinitionError, match="no class Missing"):
        hash_class_source(BASE, "Missing")


def test_a_method_wrapped_by_a_decorator_from_another_module_still_finds_the_class(
    module_dir: Path,
) -> None:
    """The class's source is read from the file its own code was compiled from (which
    is how a frozen version's is found), never from a decorator's module."""
    (module_dir / "deco_elsewhere.py").write_text(
        "import functools\n\n"
        "def logged(fn):\n"
        "    @functools.wraps(fn)\n"
        "    def wrapper(*args, **kwargs):\n"
        "        return fn(*args, **kwargs)\n"
        "    return wrapper\n"
    )
    (module_dir / "decorated_flow.py").write_text(
        "import continuum\n"
        "from deco_elsewhere import logged\n\n"
        "class Decorated(continuum.Workflow):\n"
        "    @logged\n"
        "    def helper(self):\n"
        "        return 1\n\n"
        "    def run(self, input):\n"
        "        return self.helper()\n"
    )
    module = importlib.import_module("decorated_flow")
    source = (module_dir / "decorated_flow.py").read_text()
    assert module.Decorated.version_hash == hash_class_source(source, "Decorated")
