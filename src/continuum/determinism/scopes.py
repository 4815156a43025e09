"""Name resolution: what a name in a module refers to, through its imports and scopes.

A finding is only as good as this: `t.time()` after `import time as t` is the clock,
while a parameter called `time` or a method `self.random()` is not. `Scope` records
what each module, function, lambda, comprehension and class body binds, the way Python
binds it, and `qualify` turns a `name.attr` chain into the dotted name it imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

# The statements that open a function scope, and the fields holding nested statements.
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")


@dataclass(frozen=True, eq=False)
class DefinedClass:
    """A class defined in the file, to tell workflow classes by their bases."""

    node: ast.ClassDef
    scope: Scope


# A name binds an import (the dotted name it imports), a class of this file, or anything
# else (a variable, a parameter, a function): None, which resolves to nothing we flag.
Binding: TypeAlias = "str | DefinedClass | None"


class Scope:
    """The names one module, function, lambda, comprehension or class body binds.

    As in Python, a name bound anywhere in a function is local to all of it; function
    scopes skip the class bodies around them. An import wins over other bindings of the
    same name in one scope (`try: import requests` / `except: requests = None`).
    """

    __slots__ = ("bindings", "globals", "is_class", "nonlocals", "parent")

    def __init__(self, parent: Scope | None, *, is_class: bool = False) -> None:
        self.parent = parent
        self.is_class = is_class
        self.bindings: dict[str, Binding] = {}
        self.globals: set[str] = set()  # declared `global` here: the module's names
        self.nonlocals: set[str] = set()  # declared `nonlocal` here: the enclosing one's

    def enclosing(self) -> Scope:
        """The scope a function defined here sees around it (class bodies are skipped)."""
        return self.parent if self.is_class and self.parent is not None else self

    def bind(self, name: str, value: Binding) -> None:
        if isinstance(value, str) or not isinstance(self.bindings.get(name), str):
            self.bindings[name] = value

    def lookup(self, name: str) -> Binding:
        scope: Scope | None = self
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

    def collect(self, stmts: Iterable[ast.AST]) -> Scope:
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
            if isinstance(stmt, FUNCTIONS):
                self.bind(stmt.name, None)
                continue
            if isinstance(stmt, ast.ClassDef):
                self.bind(stmt.name, DefinedClass(stmt, self))
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
            for field in BLOCKS:
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


def arg_defaults(args: ast.arguments) -> list[ast.expr]:
    """A signature's default values: evaluated where the function is defined."""
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]


def arg_names(args: ast.arguments) -> list[str]:
    """Every parameter a signature binds, `*args` and `**kwargs` included."""
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    return [a.arg for a in every]


def module_scope(tree: ast.Module) -> Scope:
    """What a module's top level binds: the outermost scope of every lookup."""
    return Scope(None).collect(tree.body)


def name_chain(node: ast.expr) -> list[str] | None:
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


def qualify(chain: list[str], scope: Scope) -> str | None:
    """The dotted name a chain refers to through imports (`t.time` -> "time.time")."""
    target = scope.lookup(chain[0])
    if not isinstance(target, str):
        return None
    return ".".join([target, *chain[1:]])
