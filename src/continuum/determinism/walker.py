"""The walk: from a module to the workflow classes it scans, and through their bodies.

`Walker` finds the classes to scan (one class at definition time, every workflow class
for `continuum lint`), visits every expression in them with the scope it is evaluated
in, and records a `Finding` for each call or read the catalogue names, skipping
activity bodies, what `continuum.side_effect` runs, and lines marked as allowed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from continuum.determinism.catalogue import (
    ACTIVITIES,
    ALLOW_PATTERN,
    READS,
    SIDE_EFFECTS,
    SLEEP,
    SLEEP_ASYNC,
    WORKFLOW_BASES,
    Rule,
    call_rule,
)
from continuum.determinism.scopes import (
    BLOCKS,
    FUNCTIONS,
    DefinedClass,
    Scope,
    arg_defaults,
    arg_names,
    name_chain,
    qualify,
)


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


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


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


class Walker:
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

    def module(self, tree: ast.Module, scope: Scope) -> None:
        self._outside(tree.body, scope, ())

    # Outside the scanned classes: find them, through blocks, functions and classes.

    def _outside(self, stmts: Iterable[ast.AST], scope: Scope, names: tuple[str, ...]) -> None:
        for stmt in stmts:
            if isinstance(stmt, ast.ClassDef):
                self._class_outside(stmt, scope, names)
            elif isinstance(stmt, FUNCTIONS):
                if self._contains_target(stmt):
                    inner = Scope(scope.enclosing())
                    for name in arg_names(stmt.args):
                        inner.bind(name, None)
                    inner.collect(stmt.body)
                    self._outside(stmt.body, inner, (*names, stmt.name))
            else:
                for field in BLOCKS:
                    block = getattr(stmt, field, None)
                    if block:
                        self._outside(block, scope, names)

    def _class_outside(self, node: ast.ClassDef, scope: Scope, names: tuple[str, ...]) -> None:
        qualname = (*names, node.name)
        if self.target is None:
            scanned = self._is_workflow(node, scope) and _mode_keyword(node) != "off"
        else:
            scanned = (node.lineno, node.col_offset) == self.target
        if scanned:
            self._class_body(node, scope, _Context(".".join(qualname)))
        elif self._contains_target(node):
            inner = Scope(scope.enclosing(), is_class=True).collect(node.body)
            self._outside(node.body, inner, qualname)

    def _contains_target(self, node: ast.stmt) -> bool:
        if self.target is None:
            return True
        return node.lineno <= self.target[0] <= (node.end_lineno or node.lineno)

    def _is_workflow(self, node: ast.ClassDef, scope: Scope) -> bool:
        known = self._workflow_memo.get(node)
        if known is not None:
            return known
        self._workflow_memo[node] = False  # a cycle is not a workflow
        found = False
        for base in node.bases:
            chain = name_chain(base)
            if chain is None:
                continue
            target = scope.lookup(chain[0])
            if isinstance(target, str):
                found = ".".join([target, *chain[1:]]) in WORKFLOW_BASES
            elif isinstance(target, DefinedClass) and len(chain) == 1:
                found = self._is_workflow(target.node, target.scope)
            if found:
                break
        self._workflow_memo[node] = found
        return found

    # Inside a scanned class: every expression.

    def _class_body(self, node: ast.ClassDef, scope: Scope, ctx: _Context) -> None:
        inner = Scope(scope.enclosing(), is_class=True).collect(node.body)
        for stmt in node.body:
            self._visit(stmt, inner, ctx)

    def _visit(self, node: ast.AST, scope: Scope, ctx: _Context) -> None:
        if isinstance(node, ast.Call):
            self._call(node, scope, ctx)
        elif isinstance(node, ast.Attribute | ast.Name):
            self._reference(node, scope, ctx)
        elif isinstance(node, FUNCTIONS):
            self._function(node, scope, ctx)
        elif isinstance(node, ast.ClassDef):
            for child in (*node.decorator_list, *node.bases, *node.keywords):
                self._visit(child, scope, ctx)
            self._class_body(node, scope, ctx.enter(node.name, is_async=False))
        elif isinstance(node, ast.Lambda):
            for default in arg_defaults(node.args):
                self._visit(default, scope, ctx)
            inner = Scope(scope.enclosing())
            for name in arg_names(node.args):
                inner.bind(name, None)
            self._visit(node.body, inner, ctx)
        elif isinstance(node, _COMPREHENSIONS):
            inner = Scope(scope.enclosing())
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
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: Scope, ctx: _Context
    ) -> None:
        for child in (*node.decorator_list, *arg_defaults(node.args)):
            self._visit(child, scope, ctx)
        if any(self._is_activity(d, scope) for d in node.decorator_list):
            return  # an activity's body runs once, journaled: side effects belong there
        inner = Scope(scope.enclosing())
        for name in arg_names(node.args):
            inner.bind(name, None)
        inner.collect(node.body)
        inner_ctx = ctx.enter(node.name, is_async=isinstance(node, ast.AsyncFunctionDef))
        for stmt in node.body:
            self._visit(stmt, inner, inner_ctx)

    def _is_activity(self, decorator: ast.expr, scope: Scope) -> bool:
        if isinstance(decorator, ast.Call):
            decorator = decorator.func
        chain = name_chain(decorator)
        return chain is not None and qualify(chain, scope) in ACTIVITIES

    def _call(self, node: ast.Call, scope: Scope, ctx: _Context) -> None:
        chain = name_chain(node.func)
        if chain is None:
            self._visit(node.func, scope, ctx)
        else:
            qualified = qualify(chain, scope)
            if qualified in SIDE_EFFECTS:
                # Its function runs once and is journaled: nothing in it replays.
                for arg in node.args[:1]:
                    if isinstance(arg, ast.Name):
                        self._side_effect_names.add((ctx.workflow, arg.id))
                    elif isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name):
                        self._side_effect_names.add((ctx.workflow, arg.attr))
                return
            if qualified is not None:
                rule = call_rule(qualified, node)
                if rule is not None:
                    self._report(node, ctx, chain, qualified, rule, called=True)
                else:
                    self._check_read(node.func, ctx, chain, qualified)
        for child in (*node.args, *node.keywords):
            self._visit(child, scope, ctx)

    def _reference(self, node: ast.Attribute | ast.Name, scope: Scope, ctx: _Context) -> None:
        chain = name_chain(node)
        if chain is None:
            assert isinstance(node, ast.Attribute)
            self._visit(node.value, scope, ctx)
        elif isinstance(node.ctx, ast.Load):
            qualified = qualify(chain, scope)
            if qualified is not None:
                self._check_read(node, ctx, chain, qualified)

    def _check_read(self, node: ast.expr, ctx: _Context, chain: list[str], qualified: str) -> None:
        for name, rule in READS.items():
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
        rule: Rule,
        *,
        called: bool,
    ) -> None:
        line = node.lineno
        if 0 < line <= len(self.lines) and ALLOW_PATTERN.search(self.lines[line - 1]):
            return
        written = ".".join(chain)
        shown = f"{written}()" if called else written
        if written != qualified.removeprefix("builtins."):
            shown += f" ({qualified})"
        instead = rule.instead
        if rule is SLEEP and ctx.is_async:
            instead = SLEEP_ASYNC.instead
        verb = "calls" if called else "reads"
        message = f"{ctx.where} {verb} {shown}: {rule.why}; {instead}"
        finding = Finding(self.path, line, node.col_offset + 1, ctx.workflow, qualified, message)
        self._found.append((finding, ctx.functions))


def _mode_keyword(node: ast.ClassDef) -> str:
    for keyword in node.keywords:
        if keyword.arg == "determinism" and isinstance(keyword.value, ast.Constant):
            return str(keyword.value.value)
    return "warn"
