"""Workflow classes and their generated, hash-named entrypoints.

    class OrderFlow(continuum.Workflow, version=2):
        def run(self, input): ...

Defining `OrderFlow` hashes its class body and generates a hidden subclass
`OrderFlow.V_<hash>` whose `run` is the body that was just compiled. The run
row stores `(workflow, version_hash)`; resuming resolves that pair back to the
entrypoint it started on, even after a reload put new code under the name
`OrderFlow`.
"""

from __future__ import annotations

import datetime as dt
import inspect
import keyword
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from continuum import validation
from continuum.determinism import MODES as DETERMINISM_MODES
from continuum.determinism import Mode as DeterminismMode
from continuum.determinism import check_workflow as check_determinism
from continuum.errors import ConfigurationError, WorkflowDefinitionError, WorkflowIdentityWarning
from continuum.hashing import find_class_node, hash_body
from continuum.registry import EntrypointRegistry

_ENTRYPOINT_MARK = "_continuum_is_entrypoint"


class Workflow:
    """Base class of durable workflows. Subclasses define `run(self, input)`.

    Class keywords: `version` (an int, metadata kept beside the hash, default 1),
    `workflow` (the logical identity; defaults to "module.QualName") and `determinism`
    ("warn", the default: a `continuum.DeterminismWarning` for each call in the class
    body that breaks replay; "error": raise `WorkflowDefinitionError` instead; "off"),
    `retention` (seconds or a timedelta: how long finished runs are kept before the
    dispatcher deletes them with their journals; default None, kept until pruned), and
    `on_cancel` ("end", the default: cancelling ends a run at once; "unwind":
    cancelling raises `continuum.CancelRequested` in the run at the step it is at,
    so it can undo what it did, and the run ends `cancelled` when run() returns or
    raises). None of them changes the version hash.

    A class defined in a script run as `python shop.py` (module `__main__`) is named
    after the module other processes import it as (`shop.QualName`); when there is
    none, defining it warns with `continuum.WorkflowIdentityWarning`.
    """

    workflow: ClassVar[str]
    version: ClassVar[int]
    version_hash: ClassVar[str]
    retention: ClassVar[float | None] = None
    on_cancel: ClassVar[Literal["end", "unwind"]] = "end"
    _continuum_entrypoint: ClassVar[type[Workflow] | None] = None

    def __init_subclass__(
        cls,
        *,
        version: int = 1,
        workflow: str | None = None,
        determinism: DeterminismMode = "warn",
        retention: float | dt.timedelta | None = None,
        on_cancel: Literal["end", "unwind"] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get(_ENTRYPOINT_MARK):
            return
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise WorkflowDefinitionError(
                f"{cls.__qualname__}: version= must be a positive int, got {version!r}"
            )
        if workflow is not None and not validation.is_identifier(workflow, max_length=None):
            raise WorkflowDefinitionError(
                f"{cls.__qualname__}: workflow= must be {validation.identifier_rule(None)}, "
                f"got {validation.shown(workflow)}"
            )
        if determinism not in DETERMINISM_MODES:
            raise WorkflowDefinitionError(
                f"{cls.__qualname__}: determinism= must be one of "
                f"{', '.join(map(repr, DETERMINISM_MODES))}, got {determinism!r}"
            )
        cls.workflow = workflow or f"{module_identity(cls.__module__)}.{cls.__qualname__}"
        cls.version = version
        if retention is not None:
            cls.retention = _retention_seconds(cls, retention)
        if on_cancel is not None:
            if on_cancel not in ("end", "unwind"):
                raise WorkflowDefinitionError(
                    f"{cls.__qualname__}: on_cancel= must be 'end' or 'unwind', got {on_cancel!r}"
                )
            cls.on_cancel = on_cancel
        cls._continuum_entrypoint = None
        run = getattr(cls, "run", None)
        if run is None or run is Workflow.run:
            check_determinism(cls, None, determinism)  # its methods may run in subclasses
            return  # an abstract base for other workflows: nothing to run yet
        if not inspect.isfunction(run):
            raise WorkflowDefinitionError(
                f"{cls.__qualname__}.run must be a plain method 'def run(self, input)' "
                "or 'async def run(self, input)'"
            )
        node = find_class_node(cls)  # one parse of the class for its hash and its scan
        cls.version_hash = hash_body(node.body)
        check_determinism(cls, node, determinism)
        if workflow is None and cls.workflow.startswith("__main__."):
            warnings.warn(_unimportable_message(cls), WorkflowIdentityWarning, stacklevel=2)
        entrypoint = _generate_entrypoint(cls)
        cls._continuum_entrypoint = entrypoint
        setattr(cls, entrypoint.__name__, entrypoint)
        entrypoints.register(entrypoint)

    def run(self, input: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def __continuum_entrypoint__(cls) -> type[Workflow]:
        """The generated entrypoint of the currently loaded class."""
        entrypoint = cls.__dict__.get("_continuum_entrypoint") or (
            cls if cls.__dict__.get(_ENTRYPOINT_MARK) else None
        )
        if entrypoint is None:
            raise WorkflowDefinitionError(
                f"{cls.__qualname__} defines no run(self, input), so it cannot be started; "
                "subclass it and define run"
            )
        return entrypoint

    @classmethod
    def __continuum_workflow__(cls) -> str:
        """The logical workflow identity stored on every run."""
        return cls.workflow


# Every entrypoint defined in this process, by (workflow, version_hash).
entrypoints: EntrypointRegistry[type[Workflow]] = EntrypointRegistry()


def module_identity(module: str) -> str:
    """The name other processes import `module` by: itself, except for `__main__`.

    For `__main__` (a script run as `python shop.py` or `python -m pkg.shop`) it is the
    module name the script's file has on `sys.path` (`shop`, `pkg.shop`), or
    `"__main__"` when the file has none (a notebook, `python -c`, a file outside
    `sys.path` or named like no module).
    """
    if module != "__main__":
        return module
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if isinstance(name, str) and name.rpartition(".")[2] not in ("", "__main__"):
        return name  # python -m pkg.shop
    filename = getattr(main, "__file__", None)
    if not isinstance(filename, str):
        return module
    return importable_name(filename, sys.path) or module


def importable_name(filename: str, search_path: Sequence[str]) -> str | None:
    """The dotted module name `filename` (a .py file) is imported by from `search_path`.

    Of the `search_path` entries the file lies under, the one its package structure
    names (the folder above its outermost package) wins, else the first. None when
    no entry gives a module name, or that name is already another loaded module.
    """
    file = Path(filename)
    if file.suffix != ".py":
        return None
    try:
        file = file.resolve()
    except (OSError, RuntimeError):
        return None
    root = file.parent
    while (root / "__init__.py").is_file():
        root = root.parent
    names: dict[Path, str] = {}
    for entry in search_path:
        try:
            folder = Path(entry or os.getcwd()).resolve()
            parts = list(file.with_suffix("").relative_to(folder).parts)
        except (TypeError, ValueError, OSError, RuntimeError):
            continue
        if parts and parts[-1] == "__init__":
            parts.pop()
        if not parts or parts[-1] == "__main__":
            continue
        if all(part.isidentifier() and not keyword.iskeyword(part) for part in parts):
            names.setdefault(folder, ".".join(parts))
    name = names.get(root) or next(iter(names.values()), None)
    loaded = sys.modules.get(name) if name else None
    if loaded is not None:
        loaded_file = getattr(loaded, "__file__", None)
        if not isinstance(loaded_file, str) or Path(loaded_file).resolve() != file:
            return None  # the name already means another module in this process
    return name


def _unimportable_message(cls: type[Workflow]) -> str:
    return (
        f"workflow {cls.__qualname__} is defined in __main__ and no importable module name "
        f"was found for it, so its identity is {cls.workflow!r}: only this process knows "
        "it, and a worker that imports your code will never run its runs. Give it a "
        f"stable name (class {cls.__name__}(continuum.Workflow, "
        f'workflow="myapp.{cls.__qualname__}")) or move the class into a module '
        "that workers import"
    )


def _retention_seconds(cls: type[Workflow], retention: object) -> float:
    if isinstance(retention, dt.timedelta):
        retention = retention.total_seconds()
    try:
        return validation.duration(retention, name=f"{cls.__qualname__}: retention=")
    except ConfigurationError as exc:
        raise WorkflowDefinitionError(str(exc)) from None


def _generate_entrypoint(cls: type[Workflow]) -> type[Workflow]:
    name = f"V_{cls.version_hash}"
    namespace = {
        _ENTRYPOINT_MARK: True,
        "__module__": cls.__module__,
        "__qualname__": f"{cls.__qualname__}.{name}",
        "__doc__": None,
        "workflow": cls.workflow,
        "version": cls.version,
        "version_hash": cls.version_hash,
        "run": cls.run,
    }
    return type(name, (cls,), namespace)


def entrypoint_of(workflow_cls: object) -> type[Workflow]:
    """The entrypoint to start for a public workflow class, or a clear error."""
    if not (isinstance(workflow_cls, type) and issubclass(workflow_cls, Workflow)):
        raise WorkflowDefinitionError(
            f"{workflow_cls!r} is not a workflow: pass a subclass of continuum.Workflow "
            "that defines run(self, input)"
        )
    return workflow_cls.__continuum_entrypoint__()


def is_async(entrypoint: type[Workflow]) -> bool:
    return inspect.iscoroutinefunction(entrypoint.run)
