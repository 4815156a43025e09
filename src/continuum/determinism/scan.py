"""The entry points: the check run when a workflow class is defined, and the scans.

`check_workflow` is what `Workflow.__init_subclass__` calls: it scans the one class
being defined and warns or raises per its `determinism=` mode. `scan_source` scans
every workflow class of a file without importing it, for `continuum lint`.
"""

from __future__ import annotations

import ast
import functools
import linecache
import sys
import warnings
from collections.abc import Sequence
from typing import Any, Final, Literal, TypeAlias

from continuum.determinism.catalogue import ALLOW_COMMENT
from continuum.determinism.scopes import Scope, module_scope
from continuum.determinism.walker import Finding, Walker
from continuum.errors import DeterminismWarning, WorkflowDefinitionError
from continuum.hashing import find_class_node, source_file

Mode: TypeAlias = Literal["warn", "error", "off"]
MODES: Final[tuple[Mode, ...]] = ("warn", "error", "off")


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
        tree, scope = _parsed(filename, "".join(lines))
    except (SyntaxError, ValueError):
        return []  # hashing parsed this file moments ago; nothing sensible to add
    walker = Walker(filename, lines, target=(node.lineno, node.col_offset))
    walker.module(tree, scope)
    return walker.findings()


def scan_source(source: str, path: str) -> list[Finding]:
    """The findings in every workflow class of a module's source, which is not imported.

    Raises SyntaxError when the source does not parse.
    """
    tree = ast.parse(source, path)
    walker = Walker(path, source.splitlines(), target=None)
    walker.module(tree, module_scope(tree))
    return walker.findings()


@functools.lru_cache(maxsize=16)
def _parsed(filename: str, source: str) -> tuple[ast.Module, Scope]:
    # Keyed by the text as well, so an edited and reloaded file is parsed again.
    tree = ast.parse(source, filename)
    return tree, module_scope(tree)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
