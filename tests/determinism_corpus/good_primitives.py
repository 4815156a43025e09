"""Replay-safe workflows: primitives, activities, and names that only look alike."""

import asyncio
import datetime
import random as stdlib_random
import socket
import time
import uuid
from datetime import timedelta

import continuum
from continuum import now, random, side_effect, uuid4


@continuum.activity(retry=continuum.Retry(max_attempts=3))
def fetch(url):
    time.sleep(0.1)  # activities are where side effects belong: not scanned
    with open(url) as handle:
        return handle.read()


def module_helper():
    # Module-level helpers are not scanned (replay-check catches their effect).
    return time.time()


class Clock:
    """Not a workflow: never scanned."""

    def read(self):
        return time.time()


class Primitives(continuum.Workflow, version=2):
    def run(self, input):
        started = continuum.now()
        key = continuum.uuid4()
        roll = continuum.random()
        continuum.sleep(5)
        signal = continuum.wait_for_signal("go", timeout=60)
        stamp = continuum.side_effect(time.time)  # passed, not called: journaled once
        token = continuum.side_effect(lambda: uuid.uuid4().hex)  # runs once, journaled
        picked = side_effect(self._draw)  # a method given to side_effect
        if continuum.patched("fetch-twice"):
            fetch(input["url"])
        return [started, key, roll, signal, stamp, token, picked, fetch(input["url"])]

    def _draw(self):
        return stdlib_random.random()  # runs inside side_effect only


class LookAlikes(continuum.Workflow):
    def run(self, input):
        time = input["time"]  # a local variable called time
        time.upper()
        when = now() + 3600  # continuum.now, imported by name
        draw = random()  # continuum.random, imported by name
        ident = uuid4()  # continuum.uuid4
        delta = datetime.timedelta(days=1) + timedelta(hours=1)
        stable = uuid.uuid5(uuid.NAMESPACE_URL, input["url"])  # deterministic
        rng = stdlib_random.Random(continuum.random())  # seeded from a journaled value
        text = datetime.datetime.fromtimestamp(when).isoformat()
        formatted = datetime.datetime.strptime("2024-01-01", "%Y-%m-%d")
        return [time, draw, ident, delta, stable, rng.random(), text, formatted, self.random()]

    def random(self):  # a method called random
        return 4

    def connect(self, sock: socket.socket) -> socket.socket:  # annotations are not calls
        return sock

    def classify(self, error):
        return isinstance(error, socket.timeout)  # named, not called


class AsyncFlow(continuum.Workflow):
    async def run(self, input):
        await continuum.sleep_async(10)
        payload = await continuum.wait_for_signal_async("go")
        results = await asyncio.gather(self.one(input), self.one(payload))
        return results

    async def one(self, value):
        return fetch(value)


class Allowed(continuum.Workflow):
    def run(self, input):
        debug = time.time()  # continuum: allow (only logged, never decides anything)
        return debug and module_helper()


class Opted(continuum.Workflow, determinism="off"):
    def run(self, input):
        return time.time()


class WithActivityInside(continuum.Workflow):
    def run(self, input):
        return self.lookup(input)

    @staticmethod
    @continuum.activity
    def lookup(host):
        return socket.gethostbyname(host)  # an activity's body: not scanned
