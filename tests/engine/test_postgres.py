"""What only PostgreSQL does: NOTIFY wakeups, pools, reconnection, plans, concurrent boots."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import psycopg_pool
import pytest

import continuum
from continuum.errors import ConfigurationError, DatabaseUnavailable, StoreError
from continuum.store import JournalEntry, NewRun, open_store
from continuum.store.base import Write
from continuum.store.postgres import MIGRATIONS, Q
from tests.conftest import BACKENDS, wait_until
from tests.engine import flows
from tests.pgcluster import PostgresCluster, free_port

pytestmark = pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL tests disabled")
MakeApp = Callable[..., continuum.Continuum]


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> str:
    return pg_cluster.create_database()


@pytest.fixture
def make_app() -> Iterator[MakeApp]:
    """Instances on a database named per call; shut down before their server goes."""
    made: list[continuum.Continuum] = []

    def make(**options: object) -> continuum.Continuum:
        options.setdefault("poll_interval", 0.05)
        options.setdefault("lease_seconds", 5.0)
        app = continuum.Continuum(**options)  # type: ignore[arg-type]
        made.append(app)
        return app.boot()

    yield make
    for app in reversed(made):
        app.shutdown(timeout=10)


def test_notify_wakes_an_idle_dispatcher_long_before_its_poll(
    pg_url: str, make_app: MakeApp
) -> None:
    make_app(name="worker", database=pg_url, poll_interval=30)
    client = make_app(name="client", database=pg_url, dispatch=False)
    time.sleep(0.2)  # let the worker settle into its 30 s idle wait
    started = time.monotonic()
    run_id = client.start(flows.WaitsForApproval)
    while client.get(run_id).status != "suspended":
        assert time.monotonic() - started < 5, "the start did not wake the worker"
        time.sleep(0.005)
    signalled = time.monotonic()
    client.signal(run_id, "approval", "ok")
    assert client.result(run_id, timeout=5)["approval"] == "ok"
    assert time.monotonic() - signalled < 5


def test_listener_reconnects_after_a_server_restart(make_app: MakeApp) -> None:
    cluster = PostgresCluster().start()
    try:
        url = cluster.create_database()
        worker = make_app(name="worker", database=url, poll_interval=30)
        client = make_app(name="client", database=url, dispatch=False)
        assert client.result(client.start(flows.ThreeSteps), timeout=5)
        cluster.restart()
        deadline = time.monotonic() + 30
        while True:  # the first calls after a restart may meet dead connections
            try:
                run_id = client.start(flows.ThreeSteps)
                break
            except DatabaseUnavailable:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        # Woken by NOTIFY once the listener is back, not by the 30 s poll.
        assert client.result(run_id, timeout=15) == ["did a", "did b", "did c"]
        worker.shutdown()
        client.shutdown()
    finally:
        cluster.remove()


@pytest.mark.parametrize("autocommit", [True, False])
def test_a_pool_of_your_own(pg_url: str, autocommit: bool) -> None:
    pool = psycopg_pool.ConnectionPool(
        pg_url, kwargs={"autocommit": autocommit}, min_size=1, max_size=12, open=True
    )
    try:
        with continuum.Continuum(database=pool, poll_interval=0.05) as app:
            run_id = app.start(flows.WaitsForApproval)
            app.signal(run_id, "approval", 1)
            assert app.result(run_id, timeout=10)["approval"] == 1
            assert "postgresql://postgres@127.0.0.1" in app.store.url
        with pool.connection() as conn:  # shutdown left the pool to its owner
            assert conn.execute("SELECT count(*) FROM continuum_runs").fetchone() == (1,)
    finally:
        pool.close()


def test_a_server_that_is_down_is_unavailable_after_the_connect_timeout() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=1"
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="cannot connect to PostgreSQL") as caught:
        continuum.Continuum(database=url).boot()
    assert time.monotonic() - started < 3
    assert "Connection refused" in str(caught.value)  # what libpq said, not only that it failed
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)


# Settings that no retry can fix fail at once with what the server (or libpq) said,
# however long the connect timeout.
WRONG_SETTINGS = {
    "no such database": ("postgres@{host}/nosuchdb", 'database "nosuchdb" does not exist'),
    "no such role": ("nosuchrole@{host}/postgres", 'role "nosuchrole" does not exist'),
    "bad sslmode": ("postgres@{host}/postgres?sslmode=bogus", 'invalid sslmode value: "bogus"'),
    "SSL the server lacks": (
        "postgres@{host}/postgres?sslmode=require",
        "server does not support SSL, but SSL was required",
    ),
    "a port that is not a number": (
        "postgres@127.0.0.1:notaport/postgres",
        'invalid integer value "notaport" for connection option "port"',
    ),
}


@pytest.mark.parametrize("case", WRONG_SETTINGS)
def test_wrong_settings_fail_at_once_with_the_servers_message(
    pg_cluster: PostgresCluster, case: str
) -> None:
    path, message = WRONG_SETTINGS[case]
    url = "postgresql://" + path.format(host=f"127.0.0.1:{pg_cluster.port}")
    url += ("&" if "?" in url else "?") + "connect_timeout=30"
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match="refused the connection") as caught:
        open_store(url)
    assert time.monotonic() - started < 2
    assert message in str(caught.value)
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)


def test_a_wrong_password_fails_at_once() -> None:
    cluster = PostgresCluster().start()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE ROLE guarded LOGIN PASSWORD 'right'")
        hba = cluster.data / "pg_hba.conf"
        hba.write_text("host all guarded 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
        url = f"postgresql://guarded:wrong@127.0.0.1:{cluster.port}/postgres?connect_timeout=30"
        started = time.monotonic()
        with pytest.raises(ConfigurationError, match="password authentication failed") as caught:
            open_store(url)
        assert time.monotonic() - started < 2
        assert "wrong" not in str(caught.value)  # the password is not repeated
        store = open_store(url.replace(":wrong@", ":right@"))
        store.close()
    finally:
        cluster.remove()


def test_bad_url_and_driver_errors_are_continuum_errors(pg_url: str) -> None:
    with pytest.raises(ConfigurationError, match="bad PostgreSQL URL"):
        open_store("postgresql://x@host/db?nonsense_option=1")
    store = open_store(pg_url)
    store.migrate()
    try:
        with pytest.raises(StoreError, match="PostgreSQL error"):
            store.get_run("nul\x00byte")  # PostgreSQL text cannot hold NUL
    finally:
        store.close()


def test_claims_read_the_partial_index_not_the_table(pg_url: str) -> None:
    store = open_store(pg_url)
    store.migrate()
    store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO continuum_runs (id, workflow, version_hash, version, status, "
            "created_at, updated_at) SELECT 'done-' || i, 'wf', 'h', 1, 'completed', now(), now() "
            "FROM generate_series(1, 20000) AS i"
        )
        conn.execute("ANALYZE continuum_runs")
        query = Q["claim"].replace("%(known)s", "true")
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "EXPLAIN " + query,
                {
                    "node": "n",
                    "limit": 10,
                    "lease_seconds": 30.0,
                    "nonce": 1,
                    "workflows": ["wf"],
                    "hashes": ["h"],
                },
            )
        )
    # Due runs come from the partial index; leased runs from an index on status.
    # Neither reads the 20,000 finished runs.
    assert "Index Scan using continuum_runs_due" in plan
    assert "Seq Scan" not in plan


def test_concurrent_migrations_make_one_schema(pg_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def boot() -> None:
        store = open_store(pg_url)
        try:
            barrier.wait()
            store.migrate()
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=boot) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(pg_url) as conn:
        applied = conn.execute("SELECT version FROM continuum_schema_migrations ORDER BY 1")
        assert applied.fetchall() == [(m.version,) for m in MIGRATIONS]


@pytest.fixture
def two_stores(pg_url: str) -> Iterator[tuple[object, object]]:
    a, b = open_store(pg_url), open_store(pg_url)
    a.migrate()
    yield a, b
    a.close()
    b.close()


def test_concurrent_claims_never_share_a_run(two_stores: tuple[object, object]) -> None:
    a, b = two_stores
    for i in range(200):
        a.create_run(NewRun(f"r{i}", "wf", "h", 1, "null"))  # type: ignore[attr-defined]
    taken: dict[str, list[str]] = {"a": [], "b": []}

    def claim(name: str, store: object) -> None:
        while True:
            claims = store.claim_runs(  # type: ignore[attr-defined]
                name, limit=7, lease_seconds=60, versions=[("wf", "h")], known=True
            )
            if not claims:
                return
            taken[name] += [c.run.run_id for c in claims]

    threads = [threading.Thread(target=claim, args=item) for item in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken["a"] + taken["b"]) == sorted(f"r{i}" for i in range(200))
    assert taken["a"] and taken["b"]


def test_result_wakes_when_another_node_settles_the_run(pg_url: str, make_app: MakeApp) -> None:
    make_app(name="worker", database=pg_url)
    client = make_app(name="client", database=pg_url, dispatch=False, poll_interval=30)
    run_id = client.start(flows.WaitsForApproval)
    returned: list[float] = []
    waiter = threading.Thread(
        target=lambda: (client.result(run_id, timeout=60), returned.append(time.monotonic()))
    )
    waiter.start()
    # Let the waiter's polling back off to seconds, so only a notification is quick.
    time.sleep(2.5)
    client.signal(run_id, "approval")
    while client.store.get_run(run_id).status != "completed":  # type: ignore[union-attr]
        time.sleep(0.005)
    completed = time.monotonic()
    waiter.join(30)
    assert returned and returned[0] - completed < 0.5


def waiting_result(client: continuum.Continuum, run_id: str) -> tuple[threading.Thread, list]:
    """result() on a thread; returns it and where its answer (or error) lands."""
    answer: list = []

    def wait() -> None:
        try:
            answer.append(client.result(run_id, timeout=60))
        except Exception as exc:
            answer.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    return thread, answer


@pytest.mark.parametrize("payload_size", [10, 20_000])
def test_result_takes_the_outcome_from_the_notification(
    pg_url: str, make_app: MakeApp, payload_size: int
) -> None:
    # An outcome that fits in a notification is not read back; a bigger one is, once.
    make_app(name="worker", database=pg_url)
    client = make_app(name="client", database=pg_url, dispatch=False, poll_interval=30)
    operator = make_app(name="operator", database=pg_url, dispatch=False)
    run_id = client.start(flows.WaitsForApproval)
    wait_until(lambda: client.get(run_id).status == "suspended", what="the run to wait")
    store = client.store
    get_run = store.get_run
    reads: list[str] = []
    store.get_run = lambda rid: (reads.append(rid), get_run(rid))[1]  # type: ignore[method-assign]
    thread, answer = waiting_result(client, run_id)
    wait_until(lambda: reads, what="result() to read the run once")
    operator.signal(run_id, "approval", "x" * payload_size)
    thread.join(30)
    assert answer and answer[0]["approval"] == "x" * payload_size
    assert len(reads) == (1 if payload_size < 1000 else 2)


def test_result_learns_of_a_cancel_on_another_node_at_once(pg_url: str, make_app: MakeApp) -> None:
    make_app(name="worker", database=pg_url)
    client = make_app(name="client", database=pg_url, dispatch=False, poll_interval=30)
    operator = make_app(name="operator", database=pg_url, dispatch=False)
    run_id = client.start(flows.WaitsForApproval)
    wait_until(lambda: client.get(run_id).status == "suspended", what="the run to wait")
    thread, answer = waiting_result(client, run_id)
    time.sleep(0.2)  # result() has read the run and waits
    assert operator.cancel(run_id)
    thread.join(5)
    assert answer and isinstance(answer[0], continuum.RunCancelled)


@pytest.mark.parametrize("payload", ["{run_id}", "not json at all", "[1, 2]", "{{}}"])
def test_result_copes_with_settled_payloads_it_does_not_expect(
    pg_url: str, make_app: MakeApp, payload: str
) -> None:
    # A bare run id is what nodes on older code send during a rolling upgrade; anything
    # else is noise on the channel. Neither may stop the listener or lose a result.
    client = make_app(name="client", database=pg_url, dispatch=False, poll_interval=30)
    run_id = client.start(flows.WaitsForApproval)
    thread, answer = waiting_result(client, run_id)
    time.sleep(0.2)  # result() has read the run and waits
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SELECT pg_notify('continuum_settled', %s)", (payload.format(run_id=run_id),))
        conn.execute(
            "UPDATE continuum_runs SET status = 'completed', output = '{\"approval\": 1}' "
            "WHERE id = %s",
            (run_id,),
        )
        # and a well-formed notification after the odd one still arrives
        conn.execute(
            "SELECT pg_notify('continuum_settled', json_build_array(%s::text, 'completed', "
            "'{\"approval\": 1}', NULL)::text)",
            (run_id,),
        )
    thread.join(5)
    assert answer == [{"approval": 1}]


def test_a_write_postgres_rejects_leaves_its_batch_untouched(pg_url: str) -> None:
    store = open_store(pg_url)
    store.migrate()
    versions = [("wf", "h")]
    for run_id in ("good", "bad"):
        store.create_run(NewRun(run_id, "wf", "h", 1, "null"))
    claims = {
        c.run.run_id: c
        for c in store.claim_runs("n", limit=2, lease_seconds=30, versions=versions, known=True)
    }
    good = Write(claims["good"].lease, [JournalEntry(0, "activity", "a", "1")])
    # PostgreSQL text cannot hold NUL: the statement fails as a whole
    bad = Write(claims["bad"].lease, [JournalEntry(0, "activity", "a\x00b", "1")])
    with pytest.raises(StoreError):
        store.apply_writes([good, bad])
    assert store.load_history("good").entries == []  # nothing of the batch was kept
    with pytest.raises(StoreError):
        store.record(bad.lease, bad.entries)  # alone, the bad write still fails...
    store.record(good.lease, good.entries)  # ...and the good one lands
    assert [e.seq for e in store.load_history("good").entries] == [0]
    store.close()


def prepared(conn: psycopg.Connection, name: str) -> str:
    """PREPARE query `name`, each parameter typed by the cast it carries; returns an
    EXECUTE of it with every parameter NULL."""
    query = Q[name]
    casts = dict(re.findall(r"%\((\w+)\)s::([\w\[\]]+)", query))
    for number, param in enumerate(casts, 1):
        query = query.replace(f"%({param})s", f"${number}")
    assert "%(" not in query, f"{name}: a parameter without a cast"
    conn.execute(f"PREPARE {name} ({', '.join(casts.values())}) AS {query}")
    return f"EXECUTE {name} ({', '.join(['NULL'] * len(casts))})"


@pytest.mark.parametrize("analyzed", [False, True])
def test_attempt_writes_and_renewals_probe_the_key_however_big_the_table(
    pg_url: str, analyzed: bool
) -> None:
    """The unnested arrays look like 100 rows to the planner; the plan must still be
    key probes, with or without statistics, not a scan of every leased run."""
    store = open_store(pg_url)
    store.migrate()
    store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO continuum_runs (id, workflow, version_hash, version, status, "
            "lease_owner, lease_token, lease_expires_at, created_at, updated_at) "
            "SELECT 'run-' || i, 'wf', 'h', 1, 'running', 'n', 1, now() + interval '1 hour', "
            "now(), now() FROM generate_series(1, 20000) AS i"
        )
        if analyzed:
            conn.execute("ANALYZE")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        for name in ("attempt_writes", "renew_leases"):
            execute = prepared(conn, name)
            plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {execute}"))
            assert "Seq Scan on continuum_runs" not in plan, plan
            assert set(re.findall(r"continuum_runs_\w+", plan)) == {"continuum_runs_pkey"}, plan


def test_a_claims_commit_without_waiting_for_the_disk_applies_to_it_alone(pg_url: str) -> None:
    store = open_store(pg_url)
    store.migrate()
    store.create_run(NewRun("r", "wf", "h", 1, "null"))
    store.close()
    params = {
        "node": "n",
        "limit": 1,
        "lease_seconds": 30.0,
        "nonce": 1,
        "workflows": ["wf"],
        "hashes": ["h"],
    }
    with psycopg.connect(pg_url, autocommit=True) as conn:
        [claimed] = conn.execute(Q["claim"].replace("%(known)s", "true"), params).fetchall()
        assert claimed[0] == "r"
        # the setting was for the claim's transaction alone
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)


def test_listener_state_is_reported_and_recovers_after_its_connection_is_killed(
    pg_url: str, make_app: MakeApp
) -> None:
    states: list[str] = []
    handler_id = f"listener-states-{id(states)}"
    continuum.telemetry.attach(
        handler_id,
        ("continuum", "dispatcher", "listener"),
        lambda event, measurements, metadata: states.append(metadata["state"]),
    )
    try:
        worker = make_app(name="worker", database=pg_url, lease_seconds=0.6)
        wait_until(lambda: worker.node_status()["listener"] == "listening", what="listening")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
            )
        wait_until(lambda: "reconnecting" in states, what="the loss reported")
        wait_until(lambda: states[-1] == "listening", what="listening again")
        wait_until(
            lambda: [n.listener for n in worker.store.list_nodes()] == ["listening"],
            what="the heartbeat to record it",
        )
    finally:
        continuum.telemetry.detach(handler_id)
    assert states[0] == "listening"
