"""Frozen versions: older workflow class bodies a release ships, loaded at boot.

A run resumes on the code it started on, named by its `(workflow, version_hash)`.
A deploy that restarts every process on new code would leave runs of the old
hash with no node able to resume them. So a release keeps the class bodies of
the versions that live runs still need, one file each, in its versions folder
(`continuum_versions/` by default):

    # continuum-frozen: {"workflow": "shop.OrderFlow", "version": 1, ...}
    class OrderFlow(continuum.Workflow, version=1):
        def run(self, input): ...

At boot each file whose version is not loaded is compiled in the namespace of
its workflow's module as loaded now, so module-level names (helpers,
activities, imports) resolve to today's code: exactly the scope the hash does
not cover. Its hash is recomputed and must equal the recorded one. The class it
defines registers its entrypoint like any workflow, and the module's public
name is put back: the current class stays the one `start()` uses; frozen ones
only resume runs pinned to them.

Files are written by `continuum versions freeze` (from the loaded code) or
`continuum versions restore` (from the source the durable registry keeps), and
are never rewritten: they are reviewed and shipped like any code.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import textwrap
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from continuum.errors import ConfigurationError, DeterminismWarning, WorkflowDefinitionError
from continuum.hashing import find_class_node, hash_class_source, source_file
from continuum.workflow import Workflow, entrypoints, module_identity

HEADER = "# continuum-frozen: "
_PREAMBLE = (
    "# A frozen workflow version, written by continuum. Loaded at boot in the namespace\n"
    "# of the module named below, so runs pinned to this hash can resume after the\n"
    "# class has changed. Do not edit: its hash is checked when it is loaded.\n"
)
# Exec'ing a frozen class rebinds its name in the module for an instant.
_defining = threading.Lock()
# Every version loaded from a frozen file in this process, and the file.
loaded_from: dict[tuple[str, str], Path] = {}


@dataclass(frozen=True, slots=True)
class FrozenVersion:
    workflow: str
    version: int
    version_hash: str
    module: str
    name: str  # the class name in its module
    source: str  # the class statement, dedented
    path: Path | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.workflow, self.version_hash)

    @property
    def filename(self) -> str:
        return f"{self.workflow}@{self.version_hash}.py"

    def render(self) -> str:
        identity = {
            "workflow": self.workflow,
            "version": self.version,
            "version_hash": self.version_hash,
            "module": self.module,
            "name": self.name,
        }
        return f"{_PREAMBLE}{HEADER}{json.dumps(identity)}\n\n{self.source.rstrip()}\n"


def class_source(entrypoint: type[Workflow]) -> str:
    """The class statement (decorators included) that defined an entrypoint's public class."""
    public = entrypoint.__bases__[0]
    node = find_class_node(public)
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    lines = Path(source_file(public)).read_text(encoding="utf-8").splitlines(keepends=True)
    return textwrap.dedent("".join(lines[first - 1 : node.end_lineno]))


def of_entrypoint(entrypoint: type[Workflow], source: str) -> FrozenVersion:
    public = entrypoint.__bases__[0]
    return FrozenVersion(
        workflow=entrypoint.workflow,
        version=entrypoint.version,
        version_hash=entrypoint.version_hash,
        module=module_identity(public.__module__),
        name=public.__name__,
        source=source,
    )


def check(frozen: FrozenVersion) -> None:
    """Refuse a frozen version whose source does not hash to its recorded hash."""
    where = frozen.path or frozen.filename
    if "." in frozen.name or not frozen.name.isidentifier():
        raise WorkflowDefinitionError(f"{where}: {frozen.name!r} is not a top-level class name")
    try:
        recomputed = hash_class_source(frozen.source, frozen.name)
    except SyntaxError as exc:
        raise WorkflowDefinitionError(f"{where}: the class does not parse ({exc})") from None
    if recomputed != frozen.version_hash:
        raise WorkflowDefinitionError(
            f"{where}: its class body hashes to {recomputed}, not the recorded "
            f"{frozen.version_hash}; the file was edited. Restore it from version control "
            f"or with 'continuum versions restore {frozen.workflow} {frozen.version_hash}'"
        )


def write(folder: Path, frozen: FrozenVersion) -> Path | None:
    """Write `frozen` into `folder`; None when its file exists already (never rewritten)."""
    check(frozen)
    path = folder / frozen.filename
    try:
        folder.mkdir(parents=True, exist_ok=True)
        out = path.open("x", encoding="utf-8")
    except FileExistsError:
        if path.is_file():
            return None
        raise _unwritable(folder, f"{folder} exists and is not a folder") from None
    except OSError as exc:
        raise _unwritable(folder, exc.strerror or str(exc)) from None
    try:
        with out:
            out.write(frozen.render())
    except OSError as exc:
        path.unlink(missing_ok=True)  # never leave half a file behind
        raise _unwritable(folder, exc.strerror or str(exc)) from None
    return path


def _unwritable(folder: Path, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"cannot write frozen versions into {folder} ({why}); pass --versions-dir with a "
        "folder you can write, or set [tool.continuum] versions_dir"
    )


def read(path: Path) -> FrozenVersion:
    """Parse a frozen file; a clear WorkflowDefinitionError naming it when malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowDefinitionError(f"frozen version {path}: cannot read it ({exc})") from None
    header = next((ln for ln in text.splitlines() if ln.startswith(HEADER)), "")
    try:
        identity: Any = json.loads(header[len(HEADER) :]) if header else None
        frozen = FrozenVersion(
            workflow=str(identity["workflow"]),
            version=int(identity["version"]),
            version_hash=str(identity["version_hash"]),
            module=str(identity["module"]),
            name=str(identity["name"]),
            source=text[text.index(header) + len(header) :].strip("\n") + "\n",
            path=path,
        )
    except (TypeError, KeyError, ValueError):
        raise WorkflowDefinitionError(
            f"frozen version {path}: its '{HEADER.strip()}' line is missing or malformed; "
            "write frozen files with 'continuum versions freeze' or 'versions restore'"
        ) from None
    return frozen


def scan(folder: Path) -> list[FrozenVersion]:
    """Every frozen file in `folder` (none when it does not exist), in name order."""
    if not folder.is_dir():
        return []
    return [read(path) for path in sorted(folder.glob("*.py"))]


def load(frozen: FrozenVersion) -> type[Workflow] | None:
    """Compile a frozen version in its module's namespace and register its entrypoint.

    None when that version is loaded already (the current code, or loaded before).
    """
    if entrypoints.resolve(*frozen.key) is not None:
        return None
    check(frozen)
    where = frozen.path or frozen.filename
    try:
        module = importlib.import_module(frozen.module)
    except Exception as exc:
        raise WorkflowDefinitionError(
            f"{where}: its workflow module {frozen.module!r} does not import "
            f"({type(exc).__name__}: {exc}); ship that module, or remove the file once no "
            "run needs this version ('continuum versions check')"
        ) from None
    code = compile(frozen.render(), str(where), "exec")
    namespace = module.__dict__
    with _defining:
        missing = object()
        current = namespace.get(frozen.name, missing)
        try:
            with warnings.catch_warnings():
                # scanned when it was current code; the file has no imports of its own
                warnings.simplefilter("ignore", DeterminismWarning)
                exec(code, namespace)
            defined = namespace[frozen.name]
        finally:
            if current is missing:
                namespace.pop(frozen.name, None)
            else:
                namespace[frozen.name] = current
    if not (isinstance(defined, type) and issubclass(defined, Workflow)):
        raise WorkflowDefinitionError(f"{where}: it does not define a workflow class")
    entrypoint = defined.__continuum_entrypoint__()
    if (entrypoint.workflow, entrypoint.version_hash) != frozen.key:
        raise WorkflowDefinitionError(
            f"{where}: it defines {entrypoint.workflow}@{entrypoint.version_hash}, not the "
            f"recorded {frozen.workflow}@{frozen.version_hash}"
        )
    loaded_from[frozen.key] = where if isinstance(where, Path) else Path(where)
    return entrypoint


def load_all(folder: Path, workflows: frozenset[str] | None) -> list[type[Workflow]]:
    """Load every frozen version in `folder` of the given workflows (None: all)."""
    return [
        entrypoint
        for frozen in scan(folder)
        if workflows is None or frozen.workflow in workflows
        if (entrypoint := load(frozen)) is not None
    ]


def missing_names(frozen: FrozenVersion) -> list[str]:
    """Names the frozen body reads from its module that the module no longer defines."""
    module = importlib.import_module(frozen.module)
    tree = ast.parse(frozen.source)
    bound: set[str] = set()
    read_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read_names if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    free = read_names - bound - set(dir(builtins))
    return sorted(name for name in free if not hasattr(module, name))


def sources_of(entrypoints_: Iterable[type[Workflow]]) -> dict[tuple[str, str], str]:
    """The class source of each entrypoint that can still be read from its file
    and still hashes to its own hash (a reloaded module's old versions cannot)."""
    found = {}
    for entrypoint in entrypoints_:
        key = (entrypoint.workflow, entrypoint.version_hash)
        try:
            source = class_source(entrypoint)
            name = entrypoint.__bases__[0].__name__
            if hash_class_source(source, name) == entrypoint.version_hash:
                found[key] = source
        except (OSError, SyntaxError, WorkflowDefinitionError, KeyError):
            continue
    return found
