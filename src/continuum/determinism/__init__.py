"""The determinism scanner: calls in a workflow class body that break replay.

A workflow's `run` is executed again from the top every time its run resumes, and
each journaled step must come out the same as the first time. Code that reads the
clock, draws random numbers, makes ids, reads the environment, does I/O or starts
threads gives a different answer (or a second side effect) on every replay, so the
run drifts from its journal or repeats work. Defining a workflow class scans its
class body, every method and nested function included, and warns with
`continuum.DeterminismWarning` for each such call, naming its file and line and the
replay-safe alternative:

    what is called                                   use instead
    time.time/time_ns/monotonic/perf_counter/        continuum.now()
      process_time/thread_time/clock_gettime (+_ns),
      time.localtime/gmtime/ctime/asctime/strftime
      without a time argument,
      datetime.now/utcnow/today, date.today
    time.sleep, asyncio.sleep                        continuum.sleep(s) / sleep_async(s)
    random.* (not random.Random(seed))               continuum.random()
    uuid.uuid1, uuid.uuid4                           continuum.uuid4()
    secrets.*, os.urandom, os.getrandom              continuum.side_effect(...) or uuid4()
    os.environ (any use), os.environb, os.getenv,    the run's input, or an activity
      os.getenvb, os.putenv, os.unsetenv
    open, io.open, os.open                           an @continuum.activity
    socket.*, asyncio.open_connection                an @continuum.activity
    requests.*, httpx.*, aiohttp.*, urllib.request.*,
      urllib3.*, http.client.*                       an @continuum.activity
    subprocess.*, os.system, os.popen,               an @continuum.activity
      asyncio.create_subprocess_exec/_shell
    threading.*, _thread.*, multiprocessing.*,       activities (asyncio.gather in an
      concurrent.futures.*, asyncio.to_thread          async def run)

Names are resolved through the module's imports, the way Python resolves them: `import
time as t` then `t.time()`, `from time import time`, `from datetime import datetime`,
`import datetime as dt` are all found; a local variable or parameter called `time`, a
method `self.random()`, `datetime.timedelta(...)`, `uuid.uuid5(...)` and `random`
imported as `from continuum import random` are not. Calls only, except `os.environ`,
which is flagged wherever it is read: passing `time.time` uncalled (as to
`continuum.side_effect(time.time)`) is fine, and so are annotations.

Not flagged, because they are replay-safe: every `continuum.*` primitive; calls to
activities, and the bodies of `@continuum.activity` functions defined in the class;
the arguments of `continuum.side_effect(...)`, and a method or nested function passed
to it by name (`continuum.side_effect(self._pick)`); `random.Random(seed)` with a seed.

Controls: `determinism="warn"` (the default), `"error"` (defining the class raises
`WorkflowDefinitionError` listing every finding) or `"off"` as a class keyword, which
governs the body of the class it is written on (a subclass has its own, like
`version=`); a line holding the comment `# continuum: allow` is never reported. The
warning is located at the workflow's `class` line; its message names the file and line
of the call. `continuum lint PATH...` reports the same findings without importing
anything, for every class in the files that subclasses `continuum.Workflow` (directly,
or through a class in the same file: a base imported from elsewhere cannot be seen
without importing it).

What is not caught. The scan reads the class body only: module-level helper functions
the workflow calls are not scanned (whatever they do happens on every replay), nor are
calls reached through objects the scan cannot name (`session.get(...)` on a client
made elsewhere, `Path(...).read_text()`), `getattr`/`__import__` tricks, star imports,
names bound by `:=`, or iteration over a `set` of strings, whose order changes between
processes. A class whose source cannot be read is not scanned (one that defines `run`
cannot be hashed either). `continuum replay-check` catches the effect of all these on
the journal: it replays live runs through the code and lists every run that would drift.

The scan costs one extra parse of the class's source file per file (cached, so the
classes of one module share it) and one walk of the class body; it runs once per class
definition, beside the hash, which reads the same source.

The package: `catalogue` (the calls that break replay, why, and what to use instead),
`scopes` (what a name refers to, through imports and scopes), `walker` (the walk over
a class body and its `Finding`s), `scan` (the check at class definition and the scans
`continuum lint` runs).
"""

from continuum.determinism.catalogue import ALLOW_COMMENT
from continuum.determinism.scan import MODES, Mode, check_workflow, scan_source
from continuum.determinism.walker import Finding

__all__ = ["ALLOW_COMMENT", "MODES", "Finding", "Mode", "check_workflow", "scan_source"]
