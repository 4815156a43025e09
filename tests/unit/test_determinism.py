"""The determinism scanner: at class definition, through `continuum lint`, and the same.

The corpus in tests/determinism_corpus proves both directions: every line marked
`# expect: NAME` in a bad module is reported (as NAME), and nothing else is, while the
good modules (primitives, activities, names that only look alike) give nothing.
"""

from __future__ import annotations

import ast
import importlib
import json
import logging
import re
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import continuum
from continuum import cli
from continuum.determinism import Finding, scan_source
from continuum.errors import WorkflowDefinitionError
from continuum.workflow import entrypoints

CORPUS = Path(__file__).parent.parent / "determinism_corpus"
CORPUS_FILES = sorted(p for p in CORPUS.glob("*.py") if p.stem.startswith(("good_", "bad_")))
# Its HTTP clients need not be installed, so it is linted but never imported.
LINT_ONLY = {"bad_http"}
EXPECT = re.compile(r"# expect: ([\w.]+)\s*$")


def expected(path: Path) -> set[tuple[int, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {(n, m.group(1)) for n, line in enumerate(lines, 1) if (m := EXPECT.search(line))}


def lint(path: Path) -> list[Finding]:
    return scan_source(path.read_text(encoding="utf-8"), str(path))


def test_the_corpus_has_both_directions() -> None:
    names = {p.stem for p in CORPUS_FILES}
    assert {"good_primitives", "bad_clock", "bad_random", "bad_env_io", "bad_http"} <= names
    assert all(expected(p) for p in CORPUS_FILES if p.stem.startswith("bad_"))


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_lint_reports_exactly_the_marked_lines(path: Path) -> None:
    found = {(f.line, f.call) for f in lint(path)}
    assert found == expected(path)


@pytest.mark.parametrize(
    "path", [p for p in CORPUS_FILES if p.stem not in LINT_ONLY], ids=lambda p: p.stem
)
def test_defining_the_classes_warns_what_lint_reports(path: Path) -> None:
    name = f"tests.determinism_corpus.{path.stem}"
    sys.modules.pop(name, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(name)
        if hasattr(module, "make_flow"):
            module.make_flow()  # a workflow class defined when a function runs
    sys.modules.pop(name, None)
    assert all(w.category is continuum.DeterminismWarning for w in caught)
    assert all(w.filename == str(path) for w in caught)
    # Each warning is located at the `class` line of the workflow holding the call.
    class_lines = {
        node.lineno: node
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    }
    for w in caught:
        line = int(str(w.message).split(":")[1])
        node = class_lines[w.lineno]
        assert node.lineno < line <= (node.end_lineno or node.lineno)
    suffix = " (or end the line with '# continuum: allow' if it is deliberate)"
    from_warnings = sorted(str(w.message).removesuffix(suffix) for w in caught)
    from_lint = sorted(f"{f.path}:{f.line}: {f.message}" for f in lint(path))
    assert from_warnings == from_lint


@pytest.mark.parametrize(
    ("body", "found"),
    [
        # Python's scoping, not the names' looks, decides.
        ("def run(self, i):\n    time = i\n    return time.time()", []),
        ("def run(self, i):\n    for time in i:\n        time.time()", []),
        ("def run(self, i):\n    with i as time:\n        time.time()", []),
        (
            "def run(self, i):\n    try:\n        pass\n    except Exception as time:\n"
            "        time.time()",
            [],
        ),
        ("def run(self, random):\n    return random.choice([1])", []),
        ("def run(self, i):\n    return [time.time() for time in i]", []),
        ("def run(self, i):\n    return (lambda time: time.time())(i)", []),
        ("def run(self, i):\n    global time\n    return time.time()", ["time.time"]),
        (
            "def run(self, i):\n    time = 1\n    def inner():\n        nonlocal time\n"
            "        return time.time()\n    return inner()",
            [],
        ),
        # A class attribute does not shadow a module name inside methods...
        ("time = 5\ndef run(self, i):\n    return time.time()", ["time.time"]),
        # ...but does for the class body's own statements.
        ("time = i = 5\nlater = time.time()\ndef run(self, i):\n    pass", []),
        ("def run(self, i):\n    return open(i)", []),  # the module defines its own open
        ("def run(self, i):\n    return self.open(i), self.time.time(), i.random()", []),
        ("def run(self, i):\n    return time.ctime(i), time.strftime('%Y', i)", []),
        ("def run(self, i):\n    return time.ctime()", ["time.ctime"]),
        ("def run(self, i) -> socket.socket:\n    x: threading.Lock = i\n    return x", []),
        (
            "def run(self, i):\n    return random.Random(x=1), random.SystemRandom()",
            ["random.SystemRandom"],
        ),
    ],
)
def test_names_resolve_as_python_resolves_them(body: str, found: list[str]) -> None:
    source = (
        "import random\nimport socket\nimport threading\nimport time\nimport continuum\n\n"
        "def open(path):\n    return path\n\n"
        "class Flow(continuum.Workflow):\n" + textwrap.indent(body, "    ") + "\n"
    )
    assert [f.call for f in scan_source(source, "flow.py")] == found


@pytest.mark.parametrize(
    ("header", "base", "scanned"),
    [
        ("import continuum as c", "c.Workflow", True),
        ("from continuum.workflow import Workflow", "Workflow", True),
        ("from continuum import Workflow as W", "W", True),
        ("import continuum\nclass Mid(continuum.Workflow):\n    pass", "Mid", True),
        ("from elsewhere import Workflow", "Workflow", False),
        ("import continuum", "object", False),
    ],
)
def test_lint_finds_workflow_classes_by_their_bases(header: str, base: str, scanned: bool) -> None:
    source = f"import time\n{header}\n\nclass F({base}):\n    def run(self, i):\n"
    source += "        return time.time()\n"
    assert bool(scan_source(source, "f.py")) is scanned


# -- the class keyword, the comment, the warning ------------------------------------------


def define(module_dir: Path, name: str, source: str) -> object:
    (module_dir / f"{name}.py").write_text(source, encoding="utf-8")
    sys.modules.pop(name, None)
    try:
        return importlib.import_module(name)
    finally:
        sys.modules.pop(name, None)


CLOCK_FLOW = """\
import time

import continuum
from tests.determinism_corpus import tagged


@tagged
class Clocked(continuum.Workflow{keywords}):
    def run(self, input):
        first = time.time(){comment}
        continuum.sleep(1)
        return first, self.wait()

    def wait(self):
        time.sleep(2)
"""


def test_a_warning_points_at_the_class_and_names_the_call(module_dir: Path) -> None:
    with pytest.warns(continuum.DeterminismWarning) as caught:
        define(module_dir, "clock_warn", CLOCK_FLOW.format(keywords="", comment=""))
    file = str(module_dir / "clock_warn.py")
    assert [(w.filename, w.lineno) for w in caught] == [(file, 8), (file, 8)]
    assert [str(w.message) for w in caught] == [
        f"{file}:10: Clocked.run calls time.time(): the clock reads differently on every "
        "replay; use continuum.now() (or end the line with '# continuum: allow' if it is "
        "deliberate)",
        f"{file}:15: Clocked.wait calls time.sleep(): a sleep is not journaled, holds the "
        "worker and is slept again on every replay; use continuum.sleep(seconds) (or end "
        "the line with '# continuum: allow' if it is deliberate)",
    ]
    assert issubclass(continuum.DeterminismWarning, UserWarning)


def test_error_mode_refuses_the_class_and_lists_every_finding(module_dir: Path) -> None:
    source = CLOCK_FLOW.format(keywords=', determinism="error"', comment="")
    with pytest.raises(WorkflowDefinitionError) as raised:
        define(module_dir, "clock_error", source)
    message = str(raised.value)
    file = module_dir / "clock_error.py"
    assert message.startswith('workflow Clocked (determinism="error") makes 2 calls that ')
    assert f"{file}:10: Clocked.run calls time.time()" in message
    assert f"{file}:15: Clocked.wait calls time.sleep()" in message
    assert message.endswith("or end a deliberate line with '# continuum: allow'")
    assert not entrypoints.versions(frozenset({"clock_error.Clocked"}))


def test_off_mode_skips_the_scan(module_dir: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        source = CLOCK_FLOW.format(keywords=', determinism="off"', comment="")
        module = define(module_dir, "clock_off", source)
    assert module.Clocked.__continuum_entrypoint__()


def test_a_bad_mode_is_refused() -> None:
    with pytest.raises(WorkflowDefinitionError, match="determinism= must be one of 'warn', "):
        type("Bad", (continuum.Workflow,), {"run": lambda self, i: 1}, determinism="strict")


@pytest.mark.parametrize(
    "comment",
    [
        "  # continuum: allow",
        "  #continuum:allow",
        "  # noqa: E501  # continuum: allow (logged only)",
        "  # Continuum: Allow",
    ],
)
def test_the_allow_comment_silences_its_line_only(module_dir: Path, comment: str) -> None:
    with pytest.warns(continuum.DeterminismWarning) as caught:
        define(module_dir, "clock_allow", CLOCK_FLOW.format(keywords="", comment=comment))
    assert [str(w.message).split(":")[1] for w in caught] == ["15"]


def test_the_mode_is_the_class_s_own(module_dir: Path) -> None:
    source = CLOCK_FLOW.format(keywords=', determinism="off"', comment="") + (
        "\n\nclass Later(Clocked):\n    def extra(self):\n        return time.monotonic()\n"
    )
    with pytest.warns(continuum.DeterminismWarning) as caught:
        define(module_dir, "clock_inherit", source)
    assert [str(w.message).split(":")[1] for w in caught] == ["20"]


def test_an_abstract_base_without_source_is_not_scanned() -> None:
    namespace: dict[str, object] = {"continuum": continuum, "__name__": "ghost_base"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(
            "import time\nclass GhostBase(continuum.Workflow):\n"
            "    def helper(self):\n        return time.time()\n",
            namespace,
        )


def test_a_reloaded_module_is_scanned_again(module_dir: Path) -> None:
    source = CLOCK_FLOW.format(keywords="", comment="")
    with pytest.warns(continuum.DeterminismWarning):
        define(module_dir, "clock_reload", source)
    fixed = source.replace("time.time()", "continuum.now()").replace(
        "time.sleep(2)", "continuum.sleep(2)"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        define(module_dir, "clock_reload", fixed)


# -- continuum lint -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def pool_logger() -> Iterator[None]:
    """main() takes over the PostgreSQL pool's logger; give it back afterwards."""
    logger = logging.getLogger("psycopg.pool")
    handlers, propagate = list(logger.handlers), logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.propagate = propagate


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main(["lint", *args])
    code = exited.value.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 1), out, err


def test_lint_is_clean_on_good_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(CORPUS / "good_primitives.py"))
    assert (code, out) == (0, "")
    assert err == "1 file checked: no calls that break replay\n"


def test_lint_prints_one_line_per_finding_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, str(CORPUS))
    lines = out.splitlines()
    total = sum(len(expected(p)) + (p.stem == "bad_clock") for p in CORPUS_FILES)
    assert code == 1 and len(lines) == total  # bad_clock has two calls on one line
    assert all(re.fullmatch(r"\S+\.py:\d+:\d+: \S+ (calls|reads) .+; .+", line) for line in lines)
    assert f"{CORPUS / 'bad_clock.py'}:18:19: ClockFlow.run calls time.time(): " in out
    assert err.endswith(
        f"{total} findings. Use the replay-safe alternative named, or end a deliberate line "
        "with '# continuum: allow'\n"
    )


def test_lint_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--format", "json", str(CORPUS / "bad_random.py"))
    findings = json.loads(out)
    assert code == 1 and len(findings) == len(expected(CORPUS / "bad_random.py"))
    assert findings[0] == {
        "path": str(CORPUS / "bad_random.py"),
        "line": 16,
        "col": 13,
        "workflow": "RandomFlow",
        "call": "random.random",
        "message": "RandomFlow.run calls random.random(): it draws different values on every "
        "replay; use continuum.random(), or a random.Random(seed) seeded from it",
    }
    assert run(capsys, "--format", "json", str(CORPUS / "good_primitives.py"))[:2] == (0, "[]\n")


def test_lint_never_imports_the_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(
        "import os\nimport continuum\nos._exit(3)\n\n"
        "class F(continuum.Workflow):\n    def run(self, input):\n        return os.getpid(), "
        "os.getenv('X')\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, str(tmp_path))
    assert code == 1 and out.startswith(f"{tmp_path / 'flow.py'}:7:")


def test_lint_walks_folders_but_not_hidden_ones_or_virtualenvs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = (
        "import time\nimport continuum\nclass F(continuum.Workflow):\n"
        "    def run(self, i):\n        return time.time()\n"
    )
    for folder in ("pkg/sub", ".hidden", "venv", "pkg/__pycache__"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "flow.py").write_text(bad, encoding="utf-8")
    (tmp_path / "venv" / "pyvenv.cfg").write_text("", encoding="utf-8")
    (tmp_path / "pkg" / "notes.txt").write_text(bad, encoding="utf-8")
    code, out, err = run(capsys, str(tmp_path), str(tmp_path / "pkg"))  # overlapping: once
    assert code == 1 and out.splitlines() == [
        f"{tmp_path / 'pkg/sub/flow.py'}:5:16: F.run calls time.time(): the clock reads "
        "differently on every replay; use continuum.now()"
    ]
    assert err.startswith("1 file checked: 1 finding.")


def test_lint_reports_files_that_do_not_parse(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "broken.py").write_text("class F(:\n", encoding="utf-8")
    code, out, _ = run(capsys, str(tmp_path / "broken.py"))
    assert code == 1 and out.startswith(f"{tmp_path / 'broken.py'}:1:")
    assert "does not parse (" in out and out.endswith("; not scanned\n")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("no/such/path",), "error: Invalid value for 'PATHS...': Path 'no/such/path' does not"),
        ((), "error: Missing argument 'PATHS...'"),
        (("--format", "xml", "."), "error: Invalid value for '--format'"),
    ],
)
def test_lint_usage_mistakes_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], says: str
) -> None:
    code, out, err = run(capsys, *args)
    assert (code, out) == (2, "") and err.startswith(says) and err.count("\n") == 1, err


def test_the_project_s_own_workflows_are_clean() -> None:
    root = Path(__file__).parent.parent.parent
    found = [
        str(f)
        for folder in ("src", "tests", "examples", "bench")
        for path in sorted((root / folder).rglob("*.py"))
        if CORPUS not in path.parents
        for f in lint(path)
    ]
    assert found == []
