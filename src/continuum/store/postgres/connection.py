"""Connecting to PostgreSQL, and driver errors translated at the store boundary.

Before a store opens its pool it makes one connection of its own and reads
what refused it, if anything. A setting that retrying cannot fix (a database
or role that does not exist, a password or `pg_hba.conf` that refuses it, an
option libpq does not accept, SSL the server does not offer) fails at once as
a `ConfigurationError` carrying the server's own message. A server that is not
there (refused, unreachable, starting up, full) is tried again until the
connect timeout, then is `DatabaseUnavailable` with the last message, and the
driver's error as its cause.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
import psycopg_pool

from continuum.errors import ConfigurationError, DatabaseUnavailable, StoreError

logger = logging.getLogger("continuum.store.postgres")

# The pseudo-topic of Store.listen told "listening" or "reconnecting".
LISTENER_STATE = "listener"
# The channel each topic of Store.listen is notified on.
CHANNELS = {"wakeup": "continuum_wakeup", "settled": "continuum_settled"}

# What a server, or libpq itself, answers when the connection settings are wrong.
# psycopg says "connection is bad" when libpq refused the settings before any
# attempt to reach the server (an option with a value it does not accept).
_WRONG_SETTINGS = (
    "connection is bad",
    "does not exist",  # database "x" does not exist, role "x" does not exist
    "authentication failed",  # password, ident, peer, ...
    "no password supplied",
    "no pg_hba.conf entry",
    "SSL was required",
    "permission denied",
)


def conninfo_params(conninfo: str) -> dict[str, Any]:
    try:
        return psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(f"bad PostgreSQL URL: {exc}") from None


def redacted(conninfo: str) -> str:
    """The URL without its password, for messages and logs."""
    params = conninfo_params(conninfo)
    host, port, name = (
        params.get("host", "localhost"),
        params.get("port", 5432),
        params.get("dbname", ""),
    )
    return f"postgresql://{params.get('user', '')}@{host}:{port}/{name}"


def url_connect_timeout(conninfo: str, default: float) -> float:
    """The URL's own connect_timeout, which then bounds the wait for the first connection."""
    given = conninfo_params(conninfo).get("connect_timeout")
    if not given:
        return default
    # libpq reads it as a whole number of seconds (an int), and 0 as "wait forever".
    text = str(given).strip()
    if not (text.isascii() and text.isdigit() and 0 < int(text) <= 2**31 - 1):
        raise ConfigurationError(
            f"connect_timeout in the PostgreSQL URL {redacted(conninfo)} must be a whole "
            f"number of seconds from 1 to {2**31 - 1}, got {given!r}"
        )
    return int(text)


def reach(conninfo: str, timeout: float) -> None:
    """Connect once; raise at once if the settings are wrong, or when `timeout`
    passes without the server answering."""
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        left = deadline - time.monotonic()
        try:
            # libpq takes whole seconds and reads 0 as "forever": round up, never to 0.
            psycopg.connect(conninfo, connect_timeout=math.ceil(max(left, 1))).close()
            return
        except psycopg.Error as exc:
            message = " ".join(str(exc).split())
            if isinstance(exc, psycopg.ProgrammingError) or any(
                sign in message for sign in _WRONG_SETTINGS
            ):
                raise ConfigurationError(
                    f"PostgreSQL at {redacted(conninfo)} refused the connection: {message}; "
                    "check the database name, user, password and options in the URL"
                ) from exc
            if time.monotonic() + pause >= deadline:
                raise DatabaseUnavailable(
                    f"cannot connect to PostgreSQL at {redacted(conninfo)} within "
                    f"{timeout:g}s: {message}; check that the server is up and reachable"
                ) from exc
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def open_pool(
    conninfo: str, *, max_connections: int, connect_timeout: float, check: Any
) -> psycopg_pool.ConnectionPool:
    """A pool of autocommit connections, opened once the server has answered."""
    reach(conninfo, connect_timeout)
    pool = psycopg_pool.ConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_connections,
        kwargs={"autocommit": True, "connect_timeout": math.ceil(connect_timeout)},
        check=check,
        timeout=connect_timeout,
        open=False,
        name="continuum",
    )
    try:
        pool.open(wait=True, timeout=connect_timeout)
    except psycopg_pool.PoolTimeout:  # the server went away since it answered
        pool.close()
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {redacted(conninfo)} within "
            f"{connect_timeout:g}s; check that the server is up and reachable"
        ) from None
    return pool


@contextmanager
def translated() -> Iterator[None]:
    """Driver errors become ContinuumErrors at the store boundary."""
    try:
        yield
    except psycopg_pool.PoolTimeout as exc:
        raise DatabaseUnavailable(
            f"no PostgreSQL connection became available ({exc}); the server may be down "
            "or every pooled connection busy"
        ) from exc
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"PostgreSQL unreachable: {exc}".strip()) from exc
    except psycopg.Error as exc:
        raise StoreError(f"PostgreSQL error: {exc}".strip()) from exc


def listen_loop(
    conninfo: str,
    statements: Mapping[str, str],
    handlers: Mapping[str, Callable[[str], None]],
    stop: threading.Event,
) -> None:
    """Deliver notifications to `handlers` (by topic) until `stop` is set, on a
    connection of its own that `statements` (the LISTEN of each topic) set up, and
    set up again with backoff whenever it is lost."""
    on_state = handlers.get(LISTENER_STATE, lambda _: None)
    topics = {topic: handler for topic, handler in handlers.items() if topic != LISTENER_STATE}
    by_channel = {CHANNELS[topic]: handler for topic, handler in topics.items()}
    backoff = 0.1
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                for topic in topics:
                    conn.execute(statements[topic].encode())
                backoff = 0.1
                _deliver(on_state, "listening")
                for handler in topics.values():
                    _deliver(handler, "")  # whatever was sent while nobody listened
                while not stop.is_set():
                    for note in conn.notifies(timeout=0.5):
                        _deliver(by_channel[note.channel], note.payload)
        except psycopg.Error as exc:
            if stop.is_set():
                return
            logger.warning("wakeup listener lost its connection (%s); reconnecting", exc)
            _deliver(on_state, "reconnecting")
            stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)


def _deliver(handler: Callable[[str], None], payload: str) -> None:
    """A handler that fails is logged; the listener goes on for the others."""
    try:
        handler(payload)
    except Exception:
        logger.exception("notification handler failed on payload %r", payload[:200])


class Connected:
    """What the store's mixins (observe, schedules) call on `PostgresStore`, which has
    them: the database clock, and a pooled connection, alone or in a transaction."""

    def now(self) -> float:
        raise NotImplementedError  # PostgresStore's

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError  # PostgresStore's

    def _tx(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError  # PostgresStore's
