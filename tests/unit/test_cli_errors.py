"""The command line's errors, in process: one line on stderr, exit 1 or 2, no traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from continuum import cli
from continuum.errors import DatabaseUnavailable, SchemaError


@pytest.fixture(autouse=True)
def pool_logger() -> Iterator[logging.Logger]:
    """main() takes over the PostgreSQL pool's logger; give it back afterwards."""
    logger = logging.getLogger("psycopg.pool")
    handlers, propagate = list(logger.handlers), logger.propagate
    yield logger
    logger.handlers[:] = handlers
    logger.propagate = propagate


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        cli.main(list(args))
    code = exited.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def test_success_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--help") == (0, "")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("nosuch",), "error: No such command 'nosuch'; see 'continuum --help'\n"),
        (("migrate", "--database"), "error: Option '--database' requires an argument; see "),
    ],
)
def test_usage_mistakes_exit_2_on_one_line(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], says: str
) -> None:
    code, err = run(capsys, *args)
    assert code == 2 and err.startswith(says) and err.count("\n") == 1, err


def test_a_failure_exits_1_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "migrate", "--database", "mysql://nope") == (
        1,
        "error: unsupported database URL 'mysql://nope': use 'sqlite:///path/to/file.db', "
        "'sqlite:///:memory:' or 'postgresql://user@host/dbname'\n",
    )


def test_multi_line_and_unexpected_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def schema_error(url: str) -> None:
        raise SchemaError("schema version 9 is newer\n\tupgrade continuum-python\n")

    monkeypatch.setattr(cli, "open_store", schema_error)
    code, err = run(capsys, "migrate", "--database", "sqlite:///x.db")
    assert (code, err) == (1, "error: schema version 9 is newer upgrade continuum-python\n")

    def bug(url: str) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(cli, "open_store", bug)
    assert run(capsys, "migrate", "--database", "sqlite:///x.db") == (
        1,
        "error: KeyError: 'oops'\n",
    )


def test_pool_retries_are_not_printed_but_the_last_one_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(url: str) -> None:
        pool = logging.getLogger("psycopg.pool")
        for _ in range(3):  # what psycopg_pool logs on each failed connection attempt
            pool.warning(
                "error connecting in %r: %s", "continuum", "connection refused\n\tIs it up?"
            )
        raise DatabaseUnavailable("cannot connect to PostgreSQL at postgresql://db within 1s")

    monkeypatch.setattr(cli, "open_store", unreachable)
    code, err = run(capsys, "migrate", "--database", "postgresql://db")
    assert (code, err) == (
        1,
        "error: cannot connect to PostgreSQL at postgresql://db within 1s "
        "(last attempt: connection refused Is it up?)\n",
    )
