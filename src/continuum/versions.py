"""The durable versions registry: which workflow versions exist and who has them loaded.

`VersionRegistry.upsert_instance(instance, workflow_modules)` decides what an
instance registers, in this order: `workflow_modules` given to it; else the
`CONTINUUM_WORKFLOW_MODULES` environment variable (comma-separated dotted
paths of modules or classes); else `[tool.continuum] workflow_modules` in the
working directory's `pyproject.toml`; else every workflow class loaded in the
process. Every loaded version of each registered workflow goes into
`continuum_workflow_versions`, including entrypoints kept from before a reload.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from continuum import frozen, telemetry
from continuum.errors import ConfigurationError, WorkflowDefinitionError
from continuum.store.base import Store, VersionKey, VersionRecord
from continuum.workflow import Workflow, entrypoints, module_identity

logger = logging.getLogger("continuum.versions")

ENV_VAR = "CONTINUUM_WORKFLOW_MODULES"
DEFAULT_VERSIONS_DIR = "continuum_versions"
# A live node refreshes its last-seen times in the durable registry this often.
REFRESH_SECONDS = 60.0
_REGISTERED = ("continuum", "versions", "registered")


class InstanceVersions:
    """The workflow versions one instance runs, kept in step with the durable registry.

    Which logical workflows it runs is decided once, by `register`; which of
    their versions are loaded can grow later (a module reload, a frozen version),
    which `known()` follows without a lock and `sync()` records durably.
    """

    def __init__(
        self,
        store: Callable[[], Store],
        *,
        instance: str,
        node: str,
        versions_dir: str | os.PathLike[str] | None = None,
        dispatching: bool = True,
    ) -> None:
        self._store = store
        self._dispatching = dispatching
        self._sources: dict[VersionKey, str] = {}  # class sources, kept for the registry
        self._instance = instance
        self._node = node
        self._metadata = {"instance": instance, "node": node}
        self.versions_dir = resolve_versions_dir(versions_dir)
        self.workflows: frozenset[str] | None = None  # None: every loaded workflow
        self._known: tuple[int, list[VersionKey]] = (-1, [])
        self._synced: tuple[int, float] = (-1, 0.0)  # registry generation, monotonic time

    def register(self, workflow_modules: Iterable[type | str] | None) -> list[VersionRecord]:
        """Resolve what the instance runs, load its frozen versions, record them all
        durably, and wake runs it can now resume."""
        self.workflows = resolve_workflows(workflow_modules)
        for entrypoint in frozen.load_all(self.versions_dir, self.workflows):
            path = frozen.loaded_from[(entrypoint.workflow, entrypoint.version_hash)]
            logger.info(
                "loaded frozen version %s@%s (version %s) from %s",
                entrypoint.workflow,
                entrypoint.version_hash,
                entrypoint.version,
                path,
            )
            telemetry.execute(
                ("continuum", "versions", "frozen_loaded"),
                {"count": 1},
                {
                    **self._metadata,
                    "workflow": entrypoint.workflow,
                    "version_hash": entrypoint.version_hash,
                    "path": str(path),
                },
            )
        self._known = (-1, [])
        return self._write()

    def runs(self, workflow: str) -> bool:
        """Whether this instance runs the logical workflow `workflow`."""
        return self.workflows is None or workflow in self.workflows

    def known(self) -> Sequence[VersionKey]:
        """Every (workflow, version_hash) this instance can run now. Lock-free."""
        generation, keys = self._known
        if generation != entrypoints.generation:
            generation = entrypoints.generation
            keys = [(ep.workflow, ep.version_hash) for ep in entrypoints.versions(self.workflows)]
            self._known = (generation, keys)
        return keys

    def sync(self) -> None:
        """Record versions loaded since the last write, and refresh last-seen times."""
        generation, at = self._synced
        if generation == entrypoints.generation and time.monotonic() - at < REFRESH_SECONDS:
            return
        self._write()

    def _write(self) -> list[VersionRecord]:
        generation = entrypoints.generation
        loaded = entrypoints.versions(self.workflows)
        unread = [ep for ep in loaded if (ep.workflow, ep.version_hash) not in self._sources]
        self._sources.update(frozen.sources_of(unread))  # read once per version
        records = version_records(self.workflows, self._sources)
        unstuck = self._store().register_versions(
            self._instance, self._node, records, dispatching=self._dispatching
        )
        if generation != self._synced[0]:  # not a mere refresh of last-seen times
            names = [f"{r.workflow}@{r.version_hash}" for r in records]
            telemetry.execute(
                _REGISTERED, {"count": len(records)}, {**self._metadata, "versions": names}
            )
        if unstuck:
            telemetry.execute(
                ("continuum", "versions", "unstuck"), {"count": unstuck}, self._metadata
            )
        self._synced = (generation, time.monotonic())
        return records


class _Registers(Protocol):
    """What `VersionRegistry.upsert_instance` needs of an instance."""

    @property
    def versions(self) -> InstanceVersions: ...


class VersionRegistry:
    """Registers an instance's workflow versions in the durable table."""

    @staticmethod
    def upsert_instance(
        instance: _Registers, workflow_modules: Iterable[type | str] | None = None
    ) -> list[VersionRecord]:
        """Resolve what `instance` runs, record it durably, and wake runs it can now resume.

        Runs left `stuck_unknown_version` by older releases are set back to
        `suspended` when their version registers. Returns the registered versions.
        """
        return instance.versions.register(workflow_modules)


def version_records(
    workflows: frozenset[str] | None, sources: Mapping[VersionKey, str] | None = None
) -> list[VersionRecord]:
    """What the durable registry records of the loaded versions of `workflows`."""
    return [
        VersionRecord(
            workflow=ep.workflow,
            version_hash=ep.version_hash,
            version=ep.version,
            module=module_identity(ep.__module__),
            qualname=ep.__qualname__,
            source=(sources or {}).get((ep.workflow, ep.version_hash)),
            frozen=(ep.workflow, ep.version_hash) in frozen.loaded_from,
        )
        for ep in entrypoints.versions(workflows)
    ]


def resolve_workflows(workflow_modules: Iterable[type | str] | None) -> frozenset[str] | None:
    """The logical workflows an instance runs; None means every loaded workflow."""
    sources: Sequence[type | str] | None
    if workflow_modules is not None:
        if isinstance(workflow_modules, str | type):
            workflow_modules = [workflow_modules]
        sources = list(workflow_modules)
    elif os.environ.get(ENV_VAR, "").strip():
        sources = [p.strip() for p in os.environ[ENV_VAR].split(",") if p.strip()]
    else:
        sources = _from_pyproject(Path.cwd() / "pyproject.toml")
    if sources is None:
        return None
    found: set[str] = set()
    for source in sources:
        for cls in _workflow_classes(source):
            found.add(cls.__continuum_workflow__())
    return frozenset(found)


def resolve_versions_dir(given: str | os.PathLike[str] | None) -> Path:
    """The versions folder: `given`; else `[tool.continuum] versions_dir` in the working
    directory's pyproject.toml; else `continuum_versions` in the working directory."""
    if given is None:
        configured = _pyproject_setting(Path.cwd() / "pyproject.toml", "versions_dir")
        if configured is not None and not isinstance(configured, str):
            raise ConfigurationError("[tool.continuum] versions_dir must be a path (a string)")
        given = configured or DEFAULT_VERSIONS_DIR
    if not isinstance(given, str | os.PathLike) or not str(given):
        raise ConfigurationError(f"versions_dir must be a folder path, got {given!r}")
    return Path(given)


def _pyproject_setting(path: Path, key: str) -> object:
    if not path.is_file():
        return None
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None
    section = config.get("tool", {}).get("continuum", {})
    return section.get(key) if isinstance(section, dict) else None


def _from_pyproject(path: Path) -> list[type | str] | None:
    modules = _pyproject_setting(path, "workflow_modules")
    if modules is None:
        return None
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise ConfigurationError(
            f"{path}: [tool.continuum] workflow_modules must be a list of dotted paths"
        )
    return list(modules)


def _workflow_classes(source: type | str) -> list[type[Workflow]]:
    if isinstance(source, type):
        if not issubclass(source, Workflow):
            raise WorkflowDefinitionError(
                f"workflow_modules lists {source!r}, which is not a continuum.Workflow subclass"
            )
        source.__continuum_entrypoint__()  # a clear error for a class with no run()
        return [source]
    if not isinstance(source, str) or not source:
        raise ConfigurationError(
            f"workflow_modules entries are workflow classes or dotted paths, not {source!r}"
        )
    target = _import_path(source)
    if isinstance(target, ModuleType):
        classes = [
            value
            for value in vars(target).values()
            if inspect.isclass(value)
            and issubclass(value, Workflow)
            and value.__module__ == target.__name__
            and value.__dict__.get("_continuum_entrypoint") is not None
        ]
        if not classes:
            raise ConfigurationError(
                f"workflow module {source!r} defines no workflow classes "
                "(subclasses of continuum.Workflow with a run method)"
            )
        return classes
    if not isinstance(target, type):
        raise ConfigurationError(
            f"workflow_modules entry {source!r} is a {type(target).__name__}, not a "
            "continuum.Workflow subclass or a module of them"
        )
    return _workflow_classes(target)


def _import_path(path: str) -> Any:
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name is not None and not path.startswith(exc.name):
            raise _not_importable(path, exc) from exc  # the module exists but its imports fail
        module_path, _, attribute = path.rpartition(".")
        if not module_path:
            raise _not_importable(path, exc) from None
        try:
            module = importlib.import_module(module_path)
        except Exception as inner:
            raise _not_importable(path, inner) from inner
        try:
            return getattr(module, attribute)
        except AttributeError:
            raise ConfigurationError(
                f"workflow_modules entry {path!r}: module {module_path!r} has no {attribute!r}"
            ) from None
    except Exception as exc:
        raise _not_importable(path, exc) from exc


def _not_importable(path: str, exc: BaseException) -> ConfigurationError:
    return ConfigurationError(
        f"workflow_modules entry {path!r} does not import ({type(exc).__name__}: {exc}); "
        f"check the dotted path and that its package is on sys.path ({sys.path[0] or '.'!r} first)"
    )
