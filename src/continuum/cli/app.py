"""The application as commands see it: its workflow code (`--app`) and a client.

    continuum worker --app shop.flows,billing.InvoiceFlow

`--app` names modules or workflow classes, comma-separated dotted paths,
imported from the current working directory as uvicorn and celery do (the
working directory goes first on `sys.path`). Without `--app`, a command that
needs workflow code takes it where an instance would: `CONTINUUM_WORKFLOW_MODULES`,
then `[tool.continuum] workflow_modules` in `./pyproject.toml`. Everything is
imported before any database is opened, so code that does not import is a
one-line error and nothing is written.

`client(database)` is the instance the run commands act through: it executes
nothing (`dispatch=False`), registers no workflow code and migrates nothing.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import click

from continuum.errors import ConfigurationError, SchemaError
from continuum.instance import Continuum, read_only
from continuum.store import open_store
from continuum.versions import ENV_VAR, resolve_workflows
from continuum.workflow import Workflow

app_option = click.option(
    "--app",
    "app_paths",
    metavar="MODULE[,MODULE...]",
    help=(
        "Workflow code to run: modules or workflow classes, comma-separated dotted paths, "
        f"imported from the working directory. Default: ${ENV_VAR}, then "
        "[tool.continuum] workflow_modules in ./pyproject.toml."
    ),
)


def workflow_modules(app_paths: str | None) -> list[type | str] | None:
    """Import the application's workflow code now; return what `workflow_modules=` takes.

    None means the instance's own chain applies (and has been checked to name
    something). Raises ConfigurationError (exit 1) for code that does not import
    or holds no workflow, and click.UsageError (exit 2) when nothing names any.
    """
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    if app_paths is None:
        if resolve_workflows(None) is None:  # imports what the chain names, or raises
            raise click.UsageError(
                "no workflow code to run: pass --app MODULE (dotted paths of modules or "
                f"workflow classes, comma-separated), set {ENV_VAR}, or list "
                "[tool.continuum] workflow_modules in ./pyproject.toml"
            )
        return None
    paths = [path.strip() for path in app_paths.split(",") if path.strip()]
    if not paths:
        raise click.BadParameter("give dotted paths of modules or classes", param_hint="'--app'")
    loaded = [_load(path, cwd) for path in paths]
    resolve_workflows(loaded)  # a module with no workflow class is refused here, not at boot
    return loaded


def _load(path: str, cwd: str) -> type | str:
    """A module's dotted path (imported) or a workflow class."""
    try:
        _import(path, path, cwd)
        return path
    except ModuleNotFoundError as exc:  # no module by that name: perhaps a class in one
        if "." not in path:
            raise _not_importable(path, exc, cwd) from None
    module_path, _, attribute = path.rpartition(".")
    module = _import(module_path, path, cwd)
    target = getattr(module, attribute, None)
    if target is None:
        raise ConfigurationError(
            f"--app {path!r}: module {module_path!r} has no {attribute!r} "
            f"(imported from {module.__file__})"
        )
    if not (inspect.isclass(target) and issubclass(target, Workflow)):
        raise ConfigurationError(
            f"--app {path!r} is a {type(target).__name__}, not a continuum.Workflow "
            "subclass or a module of them"
        )
    return target


def _import(module: str, path: str, cwd: str) -> ModuleType:
    """Import `module` for the `--app` entry `path`; lets ModuleNotFoundError for
    `path` itself through (it may name a class), turns anything else into one line."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if module == path and exc.name == path:
            raise
        raise _not_importable(path, exc, cwd) from None
    except (Exception, SystemExit) as exc:  # a script's sys.exit() or argparse at import
        raise _not_importable(path, exc, cwd) from None


def _not_importable(path: str, exc: BaseException, cwd: str) -> ConfigurationError:
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SystemExit):
        detail += "; it exits when imported: guard script code with if __name__ == '__main__'"
    return ConfigurationError(f"--app {path!r} does not import ({detail}); imported from {cwd}")


def is_unused(database: str) -> bool:
    """Whether no Continuum release has set up a schema in `database` yet (a brand new
    environment: nothing can be live in it). No schema is created or changed."""
    try:
        store = open_store(database, create=False)
    except SchemaError:
        return True  # a SQLite file that does not exist yet
    try:
        return store.schema_version() == 0
    finally:
        store.close()


@contextmanager
def client(database: str) -> Iterator[Continuum]:
    """A booted instance on `database` that executes no run, registers no code and
    changes no schema (an older or missing one is an error naming `continuum migrate`)."""
    app = read_only(database, name="continuum-cli")
    app.boot()
    try:
        yield app
    finally:
        app.shutdown()
