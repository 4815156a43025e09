"""The in-process registry of workflow entrypoints, keyed by (workflow, version_hash).

Defining a workflow class registers its generated entrypoint here; nothing is
ever removed, so a module reloaded with new code keeps its old entrypoints
resolvable for runs that started on them. Reads on the dispatch hot path take
no lock: writers build a new mapping and swap the reference, which readers see
whole or not at all.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from continuum.workflow import Workflow

VersionKey = tuple[str, str]


class EntrypointRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: Mapping[VersionKey, type[Workflow]] = MappingProxyType({})
        self._current: Mapping[str, type[Workflow]] = MappingProxyType({})
        self.generation = 0

    def register(self, entrypoint: type[Workflow]) -> None:
        key = (entrypoint.workflow, entrypoint.version_hash)
        with self._lock:
            by_key = dict(self._by_key)
            # The first class compiled from a body owns that hash: identical code
            # redefined later resolves to the same (equivalent) entrypoint.
            by_key.setdefault(key, entrypoint)
            current = dict(self._current)
            current[entrypoint.workflow] = entrypoint
            self._by_key = MappingProxyType(by_key)
            self._current = MappingProxyType(current)
            self.generation += 1

    def resolve(self, workflow: str, version_hash: str) -> type[Workflow] | None:
        """The entrypoint for a journaled (workflow, version_hash), or None. Lock-free."""
        return self._by_key.get((workflow, version_hash))

    def current(self, workflow: str) -> type[Workflow] | None:
        return self._current.get(workflow)

    def versions(self, workflows: frozenset[str] | None = None) -> list[type[Workflow]]:
        """Every registered entrypoint, or those of the given logical workflows."""
        return [ep for (wf, _), ep in self._by_key.items() if workflows is None or wf in workflows]

    def workflows(self) -> frozenset[str]:
        return frozenset(self._current)


entrypoints = EntrypointRegistry()
