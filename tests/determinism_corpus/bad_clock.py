"""The clock and sleeps, reached through every way of importing them."""

import asyncio
import datetime
import datetime as dt
import time
import time as t
from datetime import date
from datetime import datetime as DateTime
from time import monotonic, perf_counter
from time import sleep as pause

import continuum


class ClockFlow(continuum.Workflow):
    def run(self, input):
        started = time.time()  # expect: time.time
        elapsed = t.monotonic() - monotonic()  # expect: time.monotonic
        tick = perf_counter()  # expect: time.perf_counter
        stamp = time.time_ns()  # expect: time.time_ns
        now = datetime.datetime.now()  # expect: datetime.datetime.now
        utc = dt.datetime.utcnow()  # expect: datetime.datetime.utcnow
        today = DateTime.today()  # expect: datetime.datetime.today
        day = date.today()  # expect: datetime.date.today
        other = dt.date.today()  # expect: datetime.date.today
        local = time.localtime()  # expect: time.localtime
        text = time.strftime("%H:%M")  # expect: time.strftime
        time.sleep(1)  # expect: time.sleep
        pause(2)  # expect: time.sleep
        return [started, elapsed, tick, stamp, now, utc, today, day, other, local, text]


class AsyncClockFlow(continuum.Workflow):
    async def run(self, input):
        await asyncio.sleep(1)  # expect: asyncio.sleep
        time.sleep(1)  # expect: time.sleep
        return await self.later()

    async def later(self):
        await asyncio.sleep(0)  # expect: asyncio.sleep
        return t.perf_counter_ns()  # expect: time.perf_counter_ns
