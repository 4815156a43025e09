"""The in-process registry of workflow entrypoints, keyed by (workflow, version_hash).

Defining a workflow class registers its generated entrypoint here; nothing is
ever removed, so a module reloaded with new code keeps its old entrypoints
resolvable for runs that started on them. Reads on the dispatch hot path take
no lock: writers build a new mapping and swap the reference, which readers see
whole or not at all.

The registry knows entrypoints only by the two names that key them, so it
depends on nothing else in the package; `continuum.workflow` holds the one
instance, typed for workflow classes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Generic, Protocol, TypeVar


class Versioned(Protocol):
    """What the registry reads of an entrypoint."""

    @property
    def workflow(self) -> str: ...

    @property
    def version_hash(self) -> str: ...


E = TypeVar("E", bound=Versioned)


class EntrypointRegistry(Generic[E]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: Mapping[tuple[str, str], E] = MappingProxyType({})
        # Bumped by every registration, so readers can cache what they derive from it.
        self.generation = 0

    def register(self, entrypoint: E) -> None:
        key = (entrypoint.workflow, entrypoint.version_hash)
        with self._lock:
            by_key = dict(self._by_key)
            # The first class compiled from a body owns that hash: identical code
            # redefined later resolves to the same (equivalent) entrypoint.
            by_key.setdefault(key, entrypoint)
            self._by_key = MappingProxyType(by_key)
            self.generation += 1

    def resolve(self, workflow: str, version_hash: str) -> E | None:
        """The entrypoint for a journaled (workflow, version_hash), or None. Lock-free."""
        return self._by_key.get((workflow, version_hash))

    def versions(self, workflows: frozenset[str] | None = None) -> list[E]:
        """Every registered entrypoint, or those of the given logical workflows."""
        return [ep for (wf, _), ep in self._by_key.items() if workflows is None or wf in workflows]
