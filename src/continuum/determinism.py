"""The determinism scanner: calls in a workflow class body that break replay.

A workflow's `run` is executed again from the top every time its run resumes, and
each journaled step must come out the same as the first time. Code that reads the
clock, draws random numbers, makes ids, reads the environment, does I/O or starts
threads gives a different answer (or a second side effect) on every replay, so the
run drifts from its journal or repeats work. Defining a workflow class scans its
class body, every method and nested function included, and warns with
`continuum.DeterminismWarning` for each such call, naming its file and line and the
replay-safe alternative:

    what is called                                   use instead
    time.time/time_ns/monotonic/perf_counter/        continuum.now()
      process_time/thread_time/clock_gettime (+_ns),
      time.localtime/gmtime/ctime/asctime/strftime
      without a time argument,
      datetime.now/utcnow/today, date.today
    time.sleep, asyncio.sleep                        continuum.sleep(s) / sleep_async(s)
    random.* (not random.Random(seed))               continuum.random()
    uuid.uuid1, uuid.uuid4                           continuum.uuid4()
    secrets.*, os.urandom, os.getrandom              continuum.side_effect(...) or uuid4()
    os.environ (any use), os.environb, os.getenv,    the run's input, or an activity
      os.getenvb, os.putenv, os.unsetenv
    open, io.open, os.open                           an @continuum.activity
    socket.*, asyncio.open_connection                an @continuum.activity
    requests.*, httpx.*, aiohttp.*, urllib.request.*,
      urllib3.*, http.client.*                       an @continuum.activity
    subprocess.*, os.system, os.popen,               an @continuum.activity
      asyncio.create_subprocess_exec/_shell
    threading.*, _thread.*, multiprocessing.*,       activities (asyncio.gather in an
      concurrent.futures.*, asyncio.to_thread          async def run)

Names are resolved through the module's imports, the way Python resolves them: `import
time as t` then `t.time()`, `from time import time`, `from datetime import datetime`,
`import datetime as dt` are all found; a local variable or parameter called `time`, a
method `self.random()`, `datetime.timedelta(...)`, `uuid.uuid5(...)` and `random`
imported as `from continuum import random` are not. Calls only, except `os.environ`,
which is flagged wherever it is read: passing `time.time` uncalled (as to
`continuum.side_effect(time.time)`) is fine, and so are annotations.

Not flagged, because they are replay-safe: every `continuum.*` primitive; calls to
activities, and the bodies of `@continuum.activity` functions defined in the class;
the arguments of `continuum.side_effect(...)`, and a method or nested function passed
to it by name (`continuum.side_effect(self._pick)`); `random.Random(seed)` with a seed.

Controls: `determinism="warn"` (the default), `"error"` (defining the class raises
`WorkflowDefinitionError` listing every finding) or `"off"` as a class keyword, which
governs the body of the class it is written on (a subclass has its own, like
`version=`); a line holding the comment `# continuum: allow` is never reported. The
warning is located at the workflow's `class` line; its message names the file and line
of the call. `continuum lint PATH...` reports the same findings without importing
anything, for every class in the files that subclasses `continuum.Workflow` (directly,
or through a class in the same file: a base imported from elsewhere cannot be seen
without importing it).

What is not caught. The scan reads the class body only: module-level helper functions
the workflow calls are not scanned (whatever they do happens on every replay), nor are
calls reached through objects the scan cannot name (`session.get(...)` on a client
made elsewhere, `Path(...).read_text()`), `getattr`/`__import__` tricks, star imports,
names bound by `:=`, or iteration over a `set` of strings, whose order changes between
processes. A class whose source cannot be read is not scanned (one that defines `run`
cannot be hashed either). `continuum replay-check` catches the effect of all these on
the journal: it replays live runs through the code and lists every run that would drift.

The scan costs one extra parse of the class's source file per file (cached, so the
classes of one module share it) and one walk of the class body; it runs once per class
definition, beside the hash, which reads the same source.
"""

from __future__ import annotations

import ast
import functools
import linecache
import re
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from continuum.errors import DeterminismWarning, WorkflowDefinitionError
from continuum.hashing import find_class_node, source_file

Mode: TypeAlias = Literal["warn", "error", "off"]
MODES: Final[tuple[Mode, ...]] = ("warn", "error", "off")
ALLOW_COMMENT: Final = "# continuum: allow"
_ALLOW = re.compile(r"#\s*continuum:\s*allow\b", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One call that breaks replay. `line` and `col` are 1-based."""

    path: str
    line: int
    col: int
    workflow: str  # the class, dotted through the definitions it sits in
    call: str  # what it resolves to: "time.time", "os.environ"
    message: str  # the sentence, without the location

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


@dataclass(frozen=True)
class _Rule:
    why: str
    instead: str
    # Reads the clock only when called with fewer arguments than this (time.ctime(secs)
    # formats the time it is given).
    below_args: int | None = None


_ACTIVITY = "an @continuum.activity"
_IN_ACTIVITY = f"do it in {_ACTIVITY}"
_CLOCK = _Rule("the clock reads differently on every replay", "use continuum.now()")
_CLOCK_0 = _Rule(_CLOCK.why, _CLOCK.instead, below_args=1)
_SLEEP = _Rule(
    "a sleep is not journaled, holds the worker and is slept again on every replay",
    "use continuum.sleep(seconds)",
)
_SLEEP_ASYNC = _Rule(_SLEEP.why, "use await continuum.sleep_async(seconds)")
_RANDOM = _Rule(
    "it draws different values on every replay",
    "use continuum.random(), or a random.Random(seed) seeded from it",
)
_UUID = _Rule("it makes a different id on every replay", "use continuum.uuid4()")
_SECRET = _Rule(
    "it draws different bytes on every replay",
    "journal it once with continuum.side_effect(lambda: ...), or use continuum.uuid4()",
)
_ENV = _Rule(
    "the environment can differ on the node that replays the run",
    f"pass the value in the run's input, or read it in {_ACTIVITY}",
)
_FILE = _Rule("file I/O runs again on every replay and is not journaled", _IN_ACTIVITY)
_NETWORK = _Rule("network I/O runs again on every replay and is not journaled", _IN_ACTIVITY)
_PROCESS = _Rule("a subprocess runs again on every replay and is not journaled", _IN_ACTIVITY)
_THREAD = _Rule(
    "threads and executors run work the journal does not see and do not survive a suspension",
    "run the work as activities (concurrently with asyncio.gather in an async def run)",
)

_CALLS: Final[dict[str, _Rule]] = {
    **dict.fromkeys(
        [
            f"time.{name}{ns}"
            for name in (
                "time",
                "monotonic",
                "perf_counter",
                "process_time",
                "thread_time",
                "clock_gettime",
            )
            for ns in ("", "_ns")
        ],
        _CLOCK,
    ),
    **dict.fromkeys(["time.localtime", "time.gmtime", "time.ctime", "time.asctime"], _CLOCK_0),
    "time.strftime": _Rule(_CLOCK.why, _CLOCK.instead, below_args=2),
    **dict.fromkeys(
        [
            "datetime.datetime.now",
            "datetime.datetime.utcnow",
            "datetime.datetime.today",
            "datetime.date.today",
        ],
        _CLOCK,
    ),
    "time.sleep": _SLEEP,
    "asyncio.sleep": _SLEEP_ASYNC,
    "uuid.uuid1": _UUID,
    "uuid.uuid4": _UUID,
    "os.urandom": _SECRET,
    "os.getrandom": _SECRET,
    **dict.fromkeys(["os.getenv", "os.getenvb", "os.putenv", "os.unsetenv"], _ENV),
    **dict.fromkeys(["builtins.open", "io.open", "os.open"], _FILE),
    "asyncio.open_connection": _NETWORK,
    **dict.fromkeys(
        [
            "os.system",
            "os.popen",
            "asyncio.create_subprocess_exec",
            "asyncio.create_subprocess_shell",
        ],
        _PROCESS,
    ),
    "asyncio.to_thread": _THREAD,
}
# Every call into these modules.
_MODULES: Final[dict[str, _Rule]] = {
    "random": _RANDOM,
    "secrets": _SECRET,
    "socket": _NETWORK,
    **dict.fromkeys(
        ["requests", "httpx", "aiohttp", "urllib.request", "urllib3", "http.client"], _NETWORK
    ),
    "subprocess": _PROCESS,
    **dict.fromkeys(["threading", "_thread", "multiprocessing", "concurrent.futures"], _THREAD),
}
# Flagged wherever they are read, called or not.
_READS: Final[dict[str, _Rule]] = {"os.environ": _ENV, "os.environb": _ENV}

_WORKFLOW_BASES = frozenset({"continuum.Workflow", "continuum.workflow.Workflow"})
_ACTIVITIES = frozenset({"continuum.activity", "continuum.runtime.activity.activity"})
_SIDE_EFFECTS = frozenset({"continuum.side_effect", "continuum.runtime.primitives.side_effect"})

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


# -- the runtime check, called when a workflow class is defined -------------------------


def check_workflow(cls: type, node: ast.ClassDef | None, mode: str) -> None:
    """Scan `cls`'s body (its `class` statement `node`, as hashing found it) per `mode`.

    "warn" issues one DeterminismWarning per finding, located at the class's `class`
    line; "error" raises WorkflowDefinitionError listing them; "off" does nothing. A
    class without `run` comes with no node: it is scanned when its source can be read.
    """
    if mode == "off":
        return
    if node is None:
        try:
            node = find_class_node(cls)
        except WorkflowDefinitionError:
            return  # an abstract base with no readable source: nothing to scan, as before
    module = sys.modules.get(cls.__module__)
    module_globals = module.__dict__ if module is not None else None
    filename = source_file(cls)  # the file find_class_node read
    findings = scan_class(filename, linecache.getlines(filename, module_globals), node)
    if not findings:
        return
    if mode == "error":
        listed = "; ".join(f"{f.path}:{f.line}: {f.message}" for f in findings)
        raise WorkflowDefinitionError(
            f'workflow {cls.__qualname__} (determinism="error") makes '
            f"{_count(len(findings), 'call')} that break replay: {listed}. Use the "
            f"replay-safe alternative named, or end a deliberate line with '{ALLOW_COMMENT}'"
        )
    registry: Any = None
    if module_globals is not None:
        registry = module_globals.setdefault("__warningregistry__", {})
    for finding in findings:
        warnings.warn_explicit(
            f"{finding.path}:{finding.line}: {finding.message} "
            f"(or end the line with '{ALLOW_COMMENT}' if it is deliberate)",
            DeterminismWarning,
            filename,
            node.lineno,  # the workflow's definition line, whoever defines it
            module=cls.__module__,
            registry=registry,
            module_globals=module_globals,
        )


def scan_class(filename: str, lines: Sequence[str], node: ast.ClassDef) -> list[Finding]:
    """The findings in the class whose `class` statement `node` is, in the file `lines`."""
    try:
        tree, module_scope = _parsed(filename, "".join(lines))
    except (SyntaxError, ValueError):
        return []  # hashing parsed this file moments ago; nothing sensible to add
    walker = _Walker(filename, lines, target=(node.lineno, node.col_offset))
    walker.module(tree, module_scope)
    return walker.findings()


def scan_source(source: str, path: str) -> list[Finding]:
    """The findings in every workflow class of a module's source, which is not imported.

    Raises SyntaxError when the source does not parse.
    """
    tree = ast.parse(source, path)
    walker = _Walker(path, source.splitlines(), target=None)
    walker.module(tree, _module_scope(tree))
    return walker.findings()


@functools.lru_cache(maxsize=16)
def _parsed(filename: str, source: str) -> tuple[ast.Module, _Scope]:
    # Keyed by the text as well, so an edited and reloaded file is parsed again.
    tree = ast.parse(source, filename)
    return tree, _module_scope(tree)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- scopes: what a name refers to ------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Class:
    """A class defined in the file, to tell workflow classes by their bases."""

    node: ast.ClassDef
    scope: _Scope


# A name binds an import (the dotted name it imports), a class of this file, or anything
# else (a variable, a parameter, a function): None, which resolves to nothing we flag.
_Binding: TypeAlias = "str | _Class | None"


class _Scope:
    """The names one module, function, lambda, comprehension or class body binds.

    As in Python, a name bound anywhere in a function is local to all of it; function
    scopes skip the class bodies around them. An import wins over other bindings of the
    same name in one scope (`try: import requests` / `except: requests = None`).
    """

    __slots__ = ("bindings", "globals", "is_class", "nonlocals", "parent")

    def __init__(self, parent: _Scope | None, *, is_class: bool = False) -> None:
        self.parent = parent
        self.is_class = is_class
        self.bindings: dict[str, _Binding] = {}
        self.globals: set[str] = set()  # declared `global` here: the module's names
        self.nonlocals: set[str] = set()  # declared `nonlocal` here: the enclosing one's

    def enclosing(self) -> _Scope:
        """The scope a function defined here sees around it (class bodies are skipped)."""
        return self.parent if self.is_class and self.parent is not None else self

    def bind(self, name: str, value: _Binding) -> None:
        if isinstance(value, str) or not isinstance(self.bindings.get(name), str):
            self.bindings[name] = value

    def lookup(self, name: str) -> _Binding:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.globals:
                while scope.parent is not None:
                    scope = scope.parent
                return scope.bindings.get(name, f"builtins.{name}")
            if name in scope.nonlocals:
                scope = scope.parent
                continue
            if name in scope.bindings:
                return scope.bindings[name]
            scope = scope.parent
        return f"builtins.{name}"

    def collect(self, stmts: Iterable[ast.AST]) -> _Scope:
        """Record what the statements `stmts` bind (nested scopes' own names excluded).

        Statements only: a name is bound by an assignment, loop, `with`, `except`,
        `case`, `del`, import, `def` or `class`, never inside an expression (walrus
        targets aside, which are not followed), so expressions need not be walked.
        """
        self._collect(stmts)
        for name in self.globals | self.nonlocals:
            self.bindings.pop(name, None)
        return self

    def _collect(self, stmts: Iterable[ast.AST]) -> None:
        for stmt in stmts:
            if isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname:
                        self.bind(alias.asname, alias.name)
                    else:
                        root = alias.name.partition(".")[0]
                        self.bind(root, root)
                continue
            if isinstance(stmt, ast.ImportFrom):
                module = "." * stmt.level + (stmt.module or "")
                for alias in stmt.names:
                    if alias.name != "*":
                        self.bind(alias.asname or alias.name, f"{module}.{alias.name}")
                continue
            if isinstance(stmt, _FUNCTIONS):
                self.bind(stmt.name, None)
                continue
            if isinstance(stmt, ast.ClassDef):
                self.bind(stmt.name, _Class(stmt, self))
                continue
            if isinstance(stmt, ast.Global):
                self.globals.update(stmt.names)
                continue
            if isinstance(stmt, ast.Nonlocal):
                self.nonlocals.update(stmt.names)
                continue
            if isinstance(stmt, ast.Assign | ast.Delete):
                for target in stmt.targets:
                    self.bind_targets(target)
            elif isinstance(stmt, ast.AugAssign | ast.AnnAssign | ast.For | ast.AsyncFor):
                self.bind_targets(stmt.target)
            elif isinstance(stmt, ast.With | ast.AsyncWith):
                for item in stmt.items:
                    if item.optional_vars is not None:
                        self.bind_targets(item.optional_vars)
            elif isinstance(stmt, ast.ExceptHandler) and stmt.name:
                self.bind(stmt.name, None)
            elif isinstance(stmt, ast.match_case):
                for node in ast.walk(stmt.pattern):
                    name = _pattern_name(node)
                    if name:
                        self.bind(name, None)
            for field in _BLOCKS:
                block = getattr(stmt, field, None)
                if block:
                    self._collect(block)

    def bind_targets(self, target: ast.expr) -> None:
        """Bind the names an assignment target assigns (not attributes, not items)."""
        if isinstance(target, ast.Name):
            self.bind(target.id, None)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self.bind_targets(element)
        elif isinstance(target, ast.Starred):
            self.bind_targets(target.value)


def _pattern_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.MatchAs | ast.MatchStar):
        return node.name
    if isinstance(node, ast.MatchMapping):
        return node.rest
    return None


def _defaults(args: ast.arguments) -> list[ast.expr]:
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]


def _arg_names(args: ast.arguments) -> list[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    return [a.arg for a in every]


def _module_scope(tree: ast.Module) -> _Scope:
    return _Scope(None).collect(tree.body)


def _chain(node: ast.expr) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None unless it is names and attributes only."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    parts.reverse()
    return parts


def _qualify(chain: list[str], scope: _Scope) -> str | None:
    """The dotted name a chain refers to through imports (`t.time` -> "time.time")."""
    target = scope.lookup(chain[0])
    if not isinstance(target, str):
        return None
    return ".".join([target, *chain[1:]])


# -- the walk ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """Where the walk is inside a scanned workflow class."""

    workflow: str
    functions: tuple[str, ...] = ()
    is_async: bool = False

    def enter(self, name: str, *, is_async: bool) -> _Context:
        return _Context(self.workflow, (*self.functions, name), is_async)

    @property
    def where(self) -> str:
        return ".".join((self.workflow, *self.functions))


class _Walker:
    """Walks a module to the workflow classes it scans, and scans their bodies.

    With a `target` (line, column) it scans the one class whose `class` statement is
    there and descends only into what contains it; without, every workflow class.
    """

    def __init__(self, path: str, lines: Sequence[str], target: tuple[int, int] | None) -> None:
        self.path = path
        self.lines = lines
        self.target = target
        self._found: list[tuple[Finding, tuple[str, ...]]] = []
        self._workflow_memo: dict[ast.ClassDef, bool] = {}
        # (workflow, name) of methods and nested functions passed to continuum.side_effect.
        self._side_effect_names: set[tuple[str, str]] = set()

    def findings(self) -> list[Finding]:
        kept = {
            (f.line, f.col): f
            for f, functions in self._found
            if not any((f.workflow, name) in self._side_effect_names for name in functions)
        }
        return [kept[key] for key in sorted(kept)]

    def module(self, tree: ast.Module, scope: _Scope) -> None:
        self._outside(tree.body, scope, ())

    # Outside the scanned classes: find them, through blocks, functions and classes.

    def _outside(self, stmts: Iterable[ast.AST], scope: _Scope, names: tuple[str, ...]) -> None:
        for stmt in stmts:
            if isinstance(stmt, ast.ClassDef):
                self._class_outside(stmt, scope, names)
            elif isinstance(stmt, _FUNCTIONS):
                if self._contains_target(stmt):
                    inner = _Scope(scope.enclosing())
                    for name in _arg_names(stmt.args):
                        inner.bind(name, None)
                    inner.collect(stmt.body)
                    self._outside(stmt.body, inner, (*names, stmt.name))
            else:
                for field in _BLOCKS:
                    block = getattr(stmt, field, None)
                    if block:
                        self._outside(block, scope, names)

    def _class_outside(self, node: ast.ClassDef, scope: _Scope, names: tuple[str, ...]) -> None:
        qualname = (*names, node.name)
        if self.target is None:
            scanned = self._is_workflow(node, scope) and _mode_keyword(node) != "off"
        else:
            scanned = (node.lineno, node.col_offset) == self.target
        if scanned:
            self._class_body(node, scope, _Context(".".join(qualname)))
        elif self._contains_target(node):
            inner = _Scope(scope.enclosing(), is_class=True).collect(node.body)
            self._outside(node.body, inner, qualname)

    def _contains_target(self, node: ast.stmt) -> bool:
        if self.target is None:
            return True
        return node.lineno <= self.target[0] <= (node.end_lineno or node.lineno)

    def _is_workflow(self, node: ast.ClassDef, scope: _Scope) -> bool:
        known = self._workflow_memo.get(node)
        if known is not None:
            return known
        self._workflow_memo[node] = False  # a cycle is not a workflow
        found = False
        for base in node.bases:
            chain = _chain(base)
            if chain is None:
                continue
            target = scope.lookup(chain[0])
            if isinstance(target, str):
                found = ".".join([target, *chain[1:]]) in _WORKFLOW_BASES
            elif isinstance(target, _Class) and len(chain) == 1:
                found = self._is_workflow(target.node, target.scope)
            if found:
                break
        self._workflow_memo[node] = found
        return found

    # Inside a scanned class: every expression.

    def _class_body(self, node: ast.ClassDef, scope: _Scope, ctx: _Context) -> None:
        inner = _Scope(scope.enclosing(), is_class=True).collect(node.body)
        for stmt in node.body:
            self._visit(stmt, inner, ctx)

    def _visit(self, node: ast.AST, scope: _Scope, ctx: _Context) -> None:
        if isinstance(node, ast.Call):
            self._call(node, scope, ctx)
        elif isinstance(node, ast.Attribute | ast.Name):
            self._reference(node, scope, ctx)
        elif isinstance(node, _FUNCTIONS):
            self._function(node, scope, ctx)
        elif isinstance(node, ast.ClassDef):
            for child in (*node.decorator_list, *node.bases, *node.keywords):
                self._visit(child, scope, ctx)
            self._class_body(node, scope, ctx.enter(node.name, is_async=False))
        elif isinstance(node, ast.Lambda):
            for default in _defaults(node.args):
                self._visit(default, scope, ctx)
            inner = _Scope(scope.enclosing())
            for name in _arg_names(node.args):
                inner.bind(name, None)
            self._visit(node.body, inner, ctx)
        elif isinstance(node, _COMPREHENSIONS):
            inner = _Scope(scope.enclosing())
            for generator in node.generators:
                inner.bind_targets(generator.target)
            for child in ast.iter_child_nodes(node):
                self._visit(child, inner, ctx)
        elif isinstance(node, ast.AnnAssign):  # annotations are never executed code we scan
            self._visit(node.target, scope, ctx)
            if node.value is not None:
                self._visit(node.value, scope, ctx)
        else:
            for child in ast.iter_child_nodes(node):
                self._visit(child, scope, ctx)

    def _function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope, ctx: _Context
    ) -> None:
        for child in (*node.decorator_list, *_defaults(node.args)):
            self._visit(child, scope, ctx)
        if any(self._is_activity(d, scope) for d in node.decorator_list):
            return  # an activity's body runs once, journaled: side effects belong there
        inner = _Scope(scope.enclosing())
        for name in _arg_names(node.args):
            inner.bind(name, None)
        inner.collect(node.body)
        inner_ctx = ctx.enter(node.name, is_async=isinstance(node, ast.AsyncFunctionDef))
        for stmt in node.body:
            self._visit(stmt, inner, inner_ctx)

    def _is_activity(self, decorator: ast.expr, scope: _Scope) -> bool:
        if isinstance(decorator, ast.Call):
            decorator = decorator.func
        chain = _chain(decorator)
        return chain is not None and _qualify(chain, scope) in _ACTIVITIES

    def _call(self, node: ast.Call, scope: _Scope, ctx: _Context) -> None:
        chain = _chain(node.func)
        if chain is None:
            self._visit(node.func, scope, ctx)
        else:
            qualified = _qualify(chain, scope)
            if qualified in _SIDE_EFFECTS:
                # Its function runs once and is journaled: nothing in it replays.
                for arg in node.args[:1]:
                    if isinstance(arg, ast.Name):
                        self._side_effect_names.add((ctx.workflow, arg.id))
                    elif isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name):
                        self._side_effect_names.add((ctx.workflow, arg.attr))
                return
            if qualified is not None:
                rule = _call_rule(qualified, node)
                if rule is not None:
                    self._report(node, ctx, chain, qualified, rule, called=True)
                else:
                    self._check_read(node.func, ctx, chain, qualified)
        for child in (*node.args, *node.keywords):
            self._visit(child, scope, ctx)

    def _reference(self, node: ast.Attribute | ast.Name, scope: _Scope, ctx: _Context) -> None:
        chain = _chain(node)
        if chain is None:
            assert isinstance(node, ast.Attribute)
            self._visit(node.value, scope, ctx)
        elif isinstance(node.ctx, ast.Load):
            qualified = _qualify(chain, scope)
            if qualified is not None:
                self._check_read(node, ctx, chain, qualified)

    def _check_read(self, node: ast.expr, ctx: _Context, chain: list[str], qualified: str) -> None:
        for name, rule in _READS.items():
            if qualified == name or qualified.startswith(f"{name}."):
                depth = len(chain) - (qualified.count(".") - name.count("."))
                self._report(node, ctx, chain[: max(depth, 1)], name, rule, called=False)
                return

    def _report(
        self,
        node: ast.expr,
        ctx: _Context,
        chain: list[str],
        qualified: str,
        rule: _Rule,
        *,
        called: bool,
    ) -> None:
        line = node.lineno
        if 0 < line <= len(self.lines) and _ALLOW.search(self.lines[line - 1]):
            return
        written = ".".join(chain)
        shown = f"{written}()" if called else written
        if written != qualified.removeprefix("builtins."):
            shown += f" ({qualified})"
        instead = rule.instead
        if rule is _SLEEP and ctx.is_async:
            instead = _SLEEP_ASYNC.instead
        verb = "calls" if called else "reads"
        message = f"{ctx.where} {verb} {shown}: {rule.why}; {instead}"
        finding = Finding(self.path, line, node.col_offset + 1, ctx.workflow, qualified, message)
        self._found.append((finding, ctx.functions))


def _call_rule(qualified: str, node: ast.Call) -> _Rule | None:
    rule = _CALLS.get(qualified)
    if rule is None:
        module = qualified
        while rule is None and "." in module:
            module = module.rpartition(".")[0]
            rule = _MODULES.get(module)
        if qualified == "random.Random" and (node.args or node.keywords):
            return None  # seeded: the same sequence on every replay
    if rule is None or rule.below_args is None:
        return rule
    # A clock reader given the time to format reads no clock.
    return rule if len(node.args) + len(node.keywords) < rule.below_args else None


def _mode_keyword(node: ast.ClassDef) -> str:
    for keyword in node.keywords:
        if keyword.arg == "determinism" and isinstance(keyword.value, ast.Constant):
            return str(keyword.value.value)
    return "warn"
