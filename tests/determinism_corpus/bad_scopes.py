"""Where in a class body calls hide: helpers, nested code, class level, subclasses."""

import random
import time

import continuum
from continuum import Workflow


class Base(Workflow):
    """An abstract base: no run, but its helpers run inside its subclasses' runs."""

    def stamp(self):
        return time.time()  # expect: time.time


class Scoped(Base, version=3):
    created = time.monotonic()  # expect: time.monotonic

    def run(self, input):
        def helper():
            return random.random()  # expect: random.random

        later = lambda: time.time()  # expect: time.time
        import uuid

        values = [uuid.uuid4() for _ in range(2)]  # expect: uuid.uuid4
        return [helper(), later(), values, self.stamp(), self._private(), self.Inner().now()]

    @staticmethod
    def _private():
        import os as operating_system

        return operating_system.getenv("X")  # expect: os.getenv

    class Inner:
        def now(self):
            return time.time()  # expect: time.time


class Child(Scoped):
    def extra(self):
        return random.random()  # expect: random.random


def make_flow():
    """A workflow class defined inside a function, with a local import."""
    import datetime

    class Local(continuum.Workflow):
        def run(self, input):
            return datetime.datetime.now()  # expect: datetime.datetime.now

    return Local
