"""The catalogue: which calls break replay, why, and what to use instead.

Each `Rule` is one sentence pair of a finding's message (why the call breaks replay;
the replay-safe alternative). They are looked up by the dotted name a call resolves to
(`scopes.qualify`): first the exact call (`CALLS`), then every call into a module
(`MODULES`); `READS` are flagged wherever they are read, called or not. The continuum
names the scan must recognise (workflow bases, activities, side_effect) and the comment
that silences a line live here too, so what is and is not flagged is in one place.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Final

# A line holding this comment is never reported (the pattern is what is matched).
ALLOW_COMMENT: Final = "# continuum: allow"
ALLOW_PATTERN = re.compile(r"#\s*continuum:\s*allow\b", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    """Why a call breaks replay and what to do instead: the end of a finding's message."""

    why: str
    instead: str
    # Reads the clock only when called with fewer arguments than this (time.ctime(secs)
    # formats the time it is given).
    below_args: int | None = None


_ACTIVITY = "an @continuum.activity"
_IN_ACTIVITY = f"do it in {_ACTIVITY}"
_CLOCK = Rule("the clock reads differently on every replay", "use continuum.now()")
_CLOCK_0 = Rule(_CLOCK.why, _CLOCK.instead, below_args=1)
SLEEP = Rule(
    "a sleep is not journaled, holds the worker and is slept again on every replay",
    "use continuum.sleep(seconds)",
)
SLEEP_ASYNC = Rule(SLEEP.why, "use await continuum.sleep_async(seconds)")
_RANDOM = Rule(
    "it draws different values on every replay",
    "use continuum.random(), or a random.Random(seed) seeded from it",
)
_UUID = Rule("it makes a different id on every replay", "use continuum.uuid4()")
_SECRET = Rule(
    "it draws different bytes on every replay",
    "journal it once with continuum.side_effect(lambda: ...), or use continuum.uuid4()",
)
_ENV = Rule(
    "the environment can differ on the node that replays the run",
    f"pass the value in the run's input, or read it in {_ACTIVITY}",
)
_FILE = Rule("file I/O runs again on every replay and is not journaled", _IN_ACTIVITY)
_NETWORK = Rule("network I/O runs again on every replay and is not journaled", _IN_ACTIVITY)
_PROCESS = Rule("a subprocess runs again on every replay and is not journaled", _IN_ACTIVITY)
_THREAD = Rule(
    "threads and executors run work the journal does not see and do not survive a suspension",
    "run the work as activities (concurrently with asyncio.gather in an async def run)",
)

CALLS: Final[dict[str, Rule]] = {
    **dict.fromkeys(
        [
            f"time.{name}{ns}"
            for name in (
                "time",
                "monotonic",
                "perf_counter",
                "process_time",
                "thread_time",
                "clock_gettime",
            )
            for ns in ("", "_ns")
        ],
        _CLOCK,
    ),
    **dict.fromkeys(["time.localtime", "time.gmtime", "time.ctime", "time.asctime"], _CLOCK_0),
    "time.strftime": Rule(_CLOCK.why, _CLOCK.instead, below_args=2),
    **dict.fromkeys(
        [
            "datetime.datetime.now",
            "datetime.datetime.utcnow",
            "datetime.datetime.today",
            "datetime.date.today",
        ],
        _CLOCK,
    ),
    "time.sleep": SLEEP,
    "asyncio.sleep": SLEEP_ASYNC,
    "uuid.uuid1": _UUID,
    "uuid.uuid4": _UUID,
    "os.urandom": _SECRET,
    "os.getrandom": _SECRET,
    **dict.fromkeys(["os.getenv", "os.getenvb", "os.putenv", "os.unsetenv"], _ENV),
    **dict.fromkeys(["builtins.open", "io.open", "os.open"], _FILE),
    "asyncio.open_connection": _NETWORK,
    **dict.fromkeys(
        [
            "os.system",
            "os.popen",
            "asyncio.create_subprocess_exec",
            "asyncio.create_subprocess_shell",
        ],
        _PROCESS,
    ),
    "asyncio.to_thread": _THREAD,
}
# Every call into these modules.
MODULES: Final[dict[str, Rule]] = {
    "random": _RANDOM,
    "secrets": _SECRET,
    "socket": _NETWORK,
    **dict.fromkeys(
        ["requests", "httpx", "aiohttp", "urllib.request", "urllib3", "http.client"], _NETWORK
    ),
    "subprocess": _PROCESS,
    **dict.fromkeys(["threading", "_thread", "multiprocessing", "concurrent.futures"], _THREAD),
}
# Flagged wherever they are read, called or not.
READS: Final[dict[str, Rule]] = {"os.environ": _ENV, "os.environb": _ENV}

# The continuum names the scan recognises: what makes a class a workflow, and the
# decorator and function whose code runs once, journaled, and so is not scanned.
WORKFLOW_BASES = frozenset({"continuum.Workflow", "continuum.workflow.Workflow"})
ACTIVITIES = frozenset({"continuum.activity", "continuum.runtime.activity.activity"})
SIDE_EFFECTS = frozenset({"continuum.side_effect", "continuum.runtime.primitives.side_effect"})


def call_rule(qualified: str, node: ast.Call) -> Rule | None:
    """The rule a call to the dotted name `qualified` breaks, if any (`node` is the call,
    whose arguments can make it safe: a seed, a time to format)."""
    rule = CALLS.get(qualified)
    if rule is None:
        module = qualified
        while rule is None and "." in module:
            module = module.rpartition(".")[0]
            rule = MODULES.get(module)
        if qualified == "random.Random" and (node.args or node.keywords):
            return None  # seeded: the same sequence on every replay
    if rule is None or rule.below_args is None:
        return rule
    # A clock reader given the time to format reads no clock.
    return rule if len(node.args) + len(node.keywords) < rule.below_args else None
