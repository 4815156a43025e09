"""The content hash of a workflow class body.

The hash is taken over a canonical rendering of the class body's syntax tree,
not over its text, so comments, docstrings, blank lines, indentation width,
line wrapping and redundant parentheses do not change it, while any change to
a definition or statement does. Class keywords (`version=`, `workflow=`) sit
outside the body and do not take part.

The rendering names each node type and its fields, leaving out fields that are
empty or None. Newer Python versions add fields to existing nodes with empty
defaults (3.12 added `type_params`), so leaving those out keeps one source's
hash the same on every supported version. Golden hashes in the tests lock
this down.
"""

from __future__ import annotations

import ast
import hashlib
import linecache
import sys
import textwrap
from collections.abc import Iterator

from continuum.errors import WorkflowDefinitionError

HASH_LENGTH = 16
_ALGORITHM = b"continuum-body-v1\n"
# Fields that carry no meaning for execution.
_IGNORED_FIELDS = frozenset({"kind", "type_comment", "type_ignores"})
_DOCSTRING_OWNERS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)


def hash_body(statements: list[ast.stmt]) -> str:
    """Hash a list of statements (a class body) to HASH_LENGTH hex digits."""
    digest = hashlib.sha256(_ALGORITHM)
    for piece in _render_body(statements):
        digest.update(piece.encode("utf-8"))
    return digest.hexdigest()[:HASH_LENGTH]


def hash_class_source(source: str, class_name: str | None = None) -> str:
    """Hash the body of the class defined in `source` (the first, or the one named)."""
    tree = ast.parse(textwrap.dedent(source))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and class_name in (None, node.name):
            return hash_body(node.body)
    raise WorkflowDefinitionError(f"no class {class_name or ''} found in the given source")


def hash_class(cls: type) -> str:
    """Hash the body of a class object, read from its module's source file."""
    return hash_body(find_class_node(cls).body)


def find_class_node(cls: type) -> ast.ClassDef:
    """Locate the `class` statement that defined `cls` in its source file."""
    filename = source_file(cls)
    linecache.checkcache(filename)
    module = sys.modules.get(cls.__module__)
    lines = linecache.getlines(filename, module.__dict__ if module else None)
    if not lines:
        raise _unreadable(cls, f"its source file {filename!r} cannot be read")
    try:
        tree = ast.parse("".join(lines), filename)
    except SyntaxError as exc:
        raise _unreadable(cls, f"its source file {filename!r} does not parse ({exc})") from None

    path = [p for p in cls.__qualname__.split(".") if p != "<locals>"]
    candidates = [n for n in _class_defs(tree, []) if n[0] == path]
    if not candidates:
        raise _unreadable(
            cls, f"no 'class {cls.__name__}' matching {cls.__qualname__} in {filename!r}"
        )
    nodes = [node for _, node in candidates]
    if len(nodes) == 1:
        return nodes[0]
    # Several classes of that name (redefined in one scope): pick the one that
    # contains this class's own functions, or starts at its recorded line.
    lines_inside = _own_code_lines(cls)
    for node in reversed(nodes):
        end = node.end_lineno or node.lineno
        if lines_inside and all(node.lineno <= ln <= end for ln in lines_inside):
            return node
        if getattr(cls, "__firstlineno__", None) == node.lineno:
            return node
    raise _unreadable(
        cls,
        f"{len(nodes)} classes named {cls.__qualname__} in {filename!r} and none can be told "
        "apart; give each workflow class its own name",
    )


def _render_body(statements: list[ast.stmt]) -> Iterator[str]:
    yield "["
    for index, stmt in enumerate(statements):
        if index == 0 and _is_docstring(stmt):
            continue
        yield from _render(stmt)
        yield ";"
    yield "]"


def _render(value: object) -> Iterator[str]:
    if isinstance(value, ast.JoinedStr):
        value = ast.JoinedStr(values=_canonical_fstring_parts(value.values))
    if isinstance(value, ast.AST):
        yield type(value).__name__
        yield "("
        for field in value._fields:
            if field in _IGNORED_FIELDS:
                continue
            item = getattr(value, field, None)
            if item is None or (isinstance(item, list) and not item):
                continue
            yield field
            yield "="
            if field == "body" and isinstance(value, _DOCSTRING_OWNERS):
                yield from _render_body(item)
            else:
                yield from _render(item)
            yield ","
        yield ")"
    elif isinstance(value, list):
        yield "["
        for item in value:
            yield from _render(item)
            yield ","
        yield "]"
    else:
        # Constants and identifiers: the type name keeps 1, 1.0, True and "1" apart.
        yield f"{type(value).__name__}:{value!r}"


def _canonical_fstring_parts(parts: list[ast.expr]) -> list[ast.expr]:
    """F-string pieces with empty literals dropped and adjacent literals merged.

    Python 3.12's parser splits and pads f-string literals differently from
    3.11 and 3.13 for the same source; this is the form they all agree on.
    """
    merged: list[ast.expr] = []
    for part in parts:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            if not part.value:
                continue
            last = merged[-1] if merged else None
            if isinstance(last, ast.Constant) and isinstance(last.value, str):
                merged[-1] = ast.Constant(value=last.value + part.value)
                continue
        merged.append(part)
    return merged


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _class_defs(node: ast.AST, path: list[str]) -> Iterator[tuple[list[str], ast.ClassDef]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            inner = [*path, child.name]
            yield inner, child
            yield from _class_defs(child, inner)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _class_defs(child, [*path, child.name])
        else:
            yield from _class_defs(child, path)


def _own_code_lines(cls: type) -> list[int]:
    found = []
    for value in vars(cls).values():
        func = value.__func__ if isinstance(value, classmethod | staticmethod) else value
        code = getattr(func, "__code__", None)
        if code is not None and getattr(func, "__qualname__", "").startswith(cls.__qualname__):
            found.append(code.co_firstlineno)
    return found


def source_file(cls: type) -> str:
    """The file the class's own code was compiled from, else its module's file.

    The two differ for a frozen version, compiled from its frozen file in the
    namespace of a module whose file holds today's class of the same name.
    """
    filename = None
    for value in vars(cls).values():
        func = value.__func__ if isinstance(value, classmethod | staticmethod) else value
        code = getattr(func, "__code__", None)
        # Only code compiled in this class body: a decorator defined elsewhere may
        # return a wrapper of its own (whose __qualname__ functools.wraps copies,
        # but whose code object keeps the name it was compiled with).
        own = getattr(code, "co_qualname", "").startswith(f"{cls.__qualname__}.")
        if own and not code.co_filename.startswith("<"):  # type: ignore[union-attr]
            filename = code.co_filename  # type: ignore[union-attr]
            break
    if not filename:
        filename = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if not filename:
        raise _unreadable(cls, "it was not defined in a file")
    return str(filename)


def _unreadable(cls: type, why: str) -> WorkflowDefinitionError:
    return WorkflowDefinitionError(
        f"cannot hash workflow {cls.__module__}.{cls.__qualname__}: {why}. A workflow's "
        "version hash is computed from its source, so define workflow classes in a "
        "module file (not in a REPL or with exec of a string that has no file)"
    )
