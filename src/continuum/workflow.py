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

import inspect
from typing import Any, ClassVar

from continuum import validation
from continuum.errors import WorkflowDefinitionError
from continuum.hashing import hash_class
from continuum.registry import entrypoints

_ENTRYPOINT_MARK = "_continuum_is_entrypoint"


class Workflow:
    """Base class of durable workflows. Subclasses define `run(self, input)`.

    Class keywords: `version` (an int, metadata kept beside the hash, default 1)
    and `workflow` (the logical identity; defaults to "module.QualName").
    """

    workflow: ClassVar[str]
    version: ClassVar[int]
    version_hash: ClassVar[str]
    _continuum_entrypoint: ClassVar[type[Workflow] | None] = None

    def __init_subclass__(
        cls, *, version: int = 1, workflow: str | None = None, **kwargs: Any
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
        cls.workflow = workflow or f"{cls.__module__}.{cls.__qualname__}"
        cls.version = version
        cls._continuum_entrypoint = None
        run = getattr(cls, "run", None)
        if run is None or run is Workflow.run:
            return  # an abstract base for other workflows: nothing to run yet
        if not inspect.isfunction(run):
            raise WorkflowDefinitionError(
                f"{cls.__qualname__}.run must be a plain method 'def run(self, input)' "
                "or 'async def run(self, input)'"
            )
        cls.version_hash = hash_class(cls)
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
