"""The web observer through HTTP (Starlette's TestClient) on both backends: every
page, the filters and keyset pages, escaping, the token, CSRF and same-origin
checks, the signal form, and the app mounted under a prefix."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

import continuum
from continuum.errors import SchemaError
from continuum.web import WebExtraMissing, create_app
from tests.conftest import wait_until
from tests.web import flows
from tests.web.conftest import TOKEN, csrf_of, log_in

Observe = Callable[..., TestClient]


def waiting_for_approval(app: continuum.Continuum, run_id: str) -> bool:
    journal = app.store.load_journal(run_id)
    return bool(journal) and journal[-1].kind == "signal_wait"


def ended(app: continuum.Continuum, run_id: str) -> bool:
    return app.get(run_id).finished


def test_every_page_renders(worker: continuum.Continuum, observe: Observe) -> None:
    order = worker.start(flows.Order, {"amount": 12, "email": "ana@example.com"}, run_id="order-1")
    failed = worker.start(flows.Refused, "card declined", run_id="refused-1")
    done = worker.start(flows.Echo, {"hello": "world"}, run_id="echo-1")
    wait_until(lambda: waiting_for_approval(worker, order), what="the order waits")
    wait_until(lambda: ended(worker, failed) and ended(worker, done), what="runs end")
    web = observe()

    home = web.get("/")
    assert home.status_code == 200
    assert "Runs over the last 24h" in home.text
    assert '<svg class="chart"' in home.text
    for check in worker.health()["checks"]:
        assert check["name"].replace("_", " ") in home.text
    assert web.get("/?window=1h").status_code == 200

    runs = web.get("/runs")
    assert runs.status_code == 200
    for run_id in (order, failed, done):
        assert f'href="/runs/{run_id}"' in runs.text

    page = web.get(f"/runs/{order}")
    assert page.status_code == 200
    text = page.text
    assert "tests.web.flows.Order" in text
    assert worker.get(order).version_hash[:12] in text
    for kind in ("activity", "timer", "signal wait"):
        assert f'class="kind k-{kind.replace(" ", "_")}">{kind}</span>' in text
    assert "charge" in text and "&#34;charged&#34;: 12" in text  # the activity's result
    assert 'data-ended="false"' in text  # followed live

    failure = web.get(f"/runs/{failed}").text
    assert "PermissionError" in failure and "card declined" in failure
    assert "Traceback" in failure
    assert "failed after 1 attempt" in failure

    versions = web.get("/versions")
    assert versions.status_code == 200
    assert "tests.web.flows.Order" in versions.text
    assert "worker/worker-1" in versions.text  # the dispatching node that holds it

    nodes = web.get("/nodes")
    assert nodes.status_code == 200
    assert "worker-1" in nodes.text and "alive" in nodes.text

    assert web.get("/login").status_code == 200
    css = web.get("/static/continuum.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_security_headers(worker: continuum.Continuum, observe: Observe) -> None:
    web = observe()
    for path in ("/", "/runs", "/static/continuum.js", "/no-such-page"):
        headers = web.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in web.get("/runs").text  # no inline script at all


def test_a_run_holds_every_kind_of_step(worker: continuum.Continuum, observe: Observe) -> None:
    order = worker.start(flows.Order, {"amount": 5}, run_id="order-2")
    wait_until(lambda: waiting_for_approval(worker, order), what="the order waits")
    worker.signal(order, "approval", {"by": "ana"}, delivery_id="d-1")
    worker.signal(order, "late", {"n": 1})  # never asked for: stays pending
    wait_until(lambda: ended(worker, order), what="the order completes")
    text = observe().get(f"/runs/{order}").text
    for kind in ("signal", "side_effect", "patch"):
        assert f"k-{kind}" in text, kind
    assert "send-receipt" in text and "send_receipt" in text
    assert "d-1" in text  # the delivery id
    assert "at #2" in text  # the approval was taken at position 2
    assert "1 waiting to be taken" in text
    assert 'data-ended="true"' in text
    assert "&#34;approved_by&#34;" in text  # the output


def test_a_retry_shows_its_attempt_and_when_it_comes_next(
    worker: continuum.Continuum, observe: Observe
) -> None:
    flows.FAILURES["billing"] = 1
    run_id = worker.start(flows.Retrying, "billing", run_id="retrying-1")
    wait_until(
        lambda: [e.kind for e in worker.store.load_journal(run_id)] == ["activity_retry"],
        what="the retry is journaled",
    )
    text = observe().get(f"/runs/{run_id}").text
    assert "st-retrying" in text
    assert "attempt 1 failed: ConnectionError: billing is unreachable" in text
    assert "next attempt" in text and "in 59m" in text


def test_filters_and_keyset_pages(worker: continuum.Continuum, observe: Observe) -> None:
    ids = [worker.start(flows.Echo, n, run_id=f"echo-{n:02d}") for n in range(7)]
    failed = worker.start(flows.Refused, "no", run_id="refused-x")
    wait_until(lambda: all(ended(worker, r) for r in [*ids, failed]), what="runs end")
    web = observe()

    seen: list[str] = []
    url: str | None = "/runs?workflow=tests.web.flows.Echo&limit=3"
    pages = 0
    while url:
        text = web.get(url).text
        seen += re.findall(r'<td class="id"><a class="mono" href="/runs/([^"]+)"', text)
        older = re.search(r'<a href="([^"]+)" rel="next">Older', text)
        url = older.group(1).replace("&amp;", "&") if older else None
        if url:
            assert "cursor=" in url and "offset" not in url
            assert "workflow=tests.web.flows.Echo" in url and "limit=" in url
        pages += 1
    assert pages == 3
    expected = [r.run_id for r in worker.query(workflow="tests.web.flows.Echo", limit=50).runs]
    assert seen == expected and sorted(seen) == sorted(ids)

    by_status = web.get("/runs?status=failed").text
    assert "refused-x" in by_status and "echo-00" not in by_status
    both = web.get("/runs?status=failed&status=completed").text
    assert "refused-x" in both and "echo-00" in both

    version = worker.get(ids[0]).version_hash
    by_version = web.get(f"/runs?version={version}").text
    assert "echo-03" in by_version and "refused-x" not in by_version

    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert "No runs match these filters" in web.get(f"/runs?from={future}").text
    assert "echo-05" in web.get(f"/runs?to={future}").text
    assert "is not a time" in web.get("/runs?from=yesterday").text

    jump = web.get("/runs?id=echo-04", follow_redirects=False)
    assert jump.status_code == 303 and jump.headers["location"] == "/runs/echo-04"
    assert "no run has the id &#39;echo-4&#39;" in web.get("/runs?id=echo-4").text
    bad_cursor = web.get("/runs?cursor=nonsense")
    assert bad_cursor.status_code == 400 and "cursor" in bad_cursor.text


def test_stored_markup_is_shown_as_text(worker: continuum.Continuum, observe: Observe) -> None:
    evil = "<script>alert('x')</script>"
    run_id = worker.start(flows.Echo, {"note": evil, "<img src=x onerror=alert(1)>": 1})
    odd_id = worker.start(flows.Echo, 1, run_id="<b>bold</b>/../x?y#z")
    wait_until(lambda: ended(worker, run_id) and ended(worker, odd_id), what="runs end")
    web = observe()
    for page in (web.get(f"/runs/{run_id}"), web.get("/runs")):
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
    text = web.get(f"/runs/{run_id}").text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text

    listing = web.get("/runs").text
    assert "<b>bold</b>" not in listing
    assert 'href="/runs/%3Cb%3Ebold%3C%2Fb%3E%2F..%2Fx%3Fy%23z"' in listing
    odd = web.get("/runs/%3Cb%3Ebold%3C%2Fb%3E%2F..%2Fx%3Fy%23z")
    assert odd.status_code == 200 and "&lt;b&gt;bold&lt;/b&gt;/../x?y#z" in odd.text


def test_unknown_run_is_a_404_page(observe: Observe) -> None:
    web = observe()
    missing = web.get("/runs/no-such-run")
    assert missing.status_code == 404
    assert "no run has the id &#39;no-such-run&#39;" in missing.text
    assert web.get("/runs/no-such-run?fragment=live").status_code == 404
    assert web.get("/nowhere").status_code == 404
    wrong_method = web.get("/actions/cancel")
    assert wrong_method.status_code == 405 and "Method Not Allowed" in wrong_method.text


def test_without_a_token_everything_is_read_only(
    worker: continuum.Continuum, observe: Observe
) -> None:
    run_id = worker.start(flows.Order, {}, run_id="order-ro")
    wait_until(lambda: waiting_for_approval(worker, run_id), what="the order waits")
    web = observe(token=None)
    page = web.get(f"/runs/{run_id}").text
    assert "Read-only" in page and "Cancel run" not in page and 'name="csrf"' not in page
    assert ">read-only<" in page
    refused = web.post("/actions/cancel", data={"run_id": run_id, "csrf": "x"})
    assert refused.status_code == 403 and "read-only" in refused.text
    assert web.post("/login", data={"token": "anything"}).status_code == 403
    assert worker.get(run_id).status == "suspended"


def test_actions_need_the_token(worker: continuum.Continuum, observe: Observe) -> None:
    run_id = worker.start(flows.Order, {}, run_id="order-token")
    wait_until(lambda: waiting_for_approval(worker, run_id), what="the order waits")
    web = observe(token=TOKEN)
    page = web.get(f"/runs/{run_id}").text
    assert "Log in to act" in page and "Cancel run" not in page

    anonymous = web.post("/actions/cancel", data={"run_id": run_id, "csrf": ""})
    assert anonymous.status_code == 401 and "log in" in anonymous.text.lower()
    wrong = web.post("/login", data={"token": "guess"})
    assert wrong.status_code == 401 and "wrong token" in wrong.text
    assert web.cookies.get("continuum_session") is None

    answer = web.post(
        "/login", data={"token": TOKEN, "next": f"/runs/{run_id}"}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/runs/{run_id}"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if "continuum_session" in h)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")

    page = web.get(f"/runs/{run_id}").text
    assert "Logged in" in page and "Cancel run" in page
    done = web.post(
        "/actions/cancel", data={"run_id": run_id, "csrf": csrf_of(page)}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/runs/{run_id}"
    assert worker.get(run_id).status == "cancelled"
    after = web.get(f"/runs/{run_id}").text
    assert "Cancelled the run." in after
    assert "Cancelled the run." not in web.get(f"/runs/{run_id}").text  # shown once

    again = web.post("/actions/cancel", data={"run_id": run_id, "csrf": csrf_of(after)})
    assert "had already ended (cancelled)" in again.text

    web.post("/logout", data={"csrf": csrf_of(after)})
    refused = web.post("/actions/cancel", data={"run_id": run_id, "csrf": csrf_of(after)})
    assert refused.status_code == 401


def test_a_session_survives_a_restart_but_not_a_new_token(
    backend_url: str, observe: Observe
) -> None:
    first = observe(token=TOKEN)
    log_in(first)
    second = observe(token=TOKEN)  # another process with the same token
    second.cookies = first.cookies
    assert "Log out" in second.get("/runs").text
    other = observe(token="another-token")
    other.cookies = first.cookies
    assert "Log in to act" in other.get("/runs").text


def test_cross_site_requests_are_refused(worker: continuum.Continuum, observe: Observe) -> None:
    run_id = worker.start(flows.Order, {}, run_id="order-csrf")
    wait_until(lambda: waiting_for_approval(worker, run_id), what="the order waits")
    web = observe(token=TOKEN)
    csrf = log_in(web)
    form = {"run_id": run_id, "csrf": csrf}
    for data, headers in [
        ({"run_id": run_id}, {}),  # no CSRF token
        ({"run_id": run_id, "csrf": csrf[:-2] + "xx"}, {}),  # another one
        (form, {"origin": "http://evil.example"}),
        (form, {"origin": "null", "sec-fetch-site": "cross-site"}),
        (form, {"sec-fetch-site": "cross-site"}),
        (form, {"sec-fetch-site": "same-site"}),
    ]:
        refused = web.post("/actions/cancel", data=data, headers=headers)
        assert refused.status_code == 403, (data, headers)
    assert (
        web.post(
            "/login", data={"token": TOKEN}, headers={"origin": "http://evil.example"}
        ).status_code
        == 403
    )
    assert worker.get(run_id).status == "suspended"
    ok = web.post(
        "/actions/cancel",
        data=form,
        headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and worker.get(run_id).status == "cancelled"


def test_the_signal_form(worker: continuum.Continuum, observe: Observe) -> None:
    run_id = worker.start(flows.Order, {}, run_id="order-signal")
    wait_until(lambda: waiting_for_approval(worker, run_id), what="the order waits")
    web = observe(token=TOKEN)
    csrf = log_in(web)

    def send(**fields: str) -> object:
        return web.post("/actions/signal", data={"run_id": run_id, "csrf": csrf, **fields})

    bad = send(name="approval", payload='{"by": <script>')
    assert bad.status_code == 400
    assert "The payload is not JSON" in bad.text
    assert "&#34;by&#34;: &lt;script&gt;" in bad.text  # what was typed, kept and escaped
    assert "NaN is not a JSON value" in send(name="approval", payload="NaN").text
    assert "Give the signal a name" in send(name=" ", payload="1").text
    assert worker.store.list_signals(run_id) == []

    sent = web.post(
        "/actions/signal",
        data={"run_id": run_id, "csrf": csrf, "name": "approval", "payload": '{"by": "web"}'},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert "Sent signal &#39;approval&#39; to the run." in web.get(f"/runs/{run_id}").text
    wait_until(lambda: ended(worker, run_id), what="the signal is taken")
    assert worker.result(run_id)["approved_by"] == {"by": "web"}
    finished = send(name="approval", payload="1")
    assert finished.status_code == 400 and "Not sent" in finished.text


def test_the_live_fragment(worker: continuum.Continuum, observe: Observe) -> None:
    run_id = worker.start(flows.Held, "gate-live", run_id="held-1")
    wait_until(lambda: worker.get(run_id).status == "running", what="the run is running")
    web = observe()
    fragment = web.get(f"/runs/{run_id}?fragment=live")
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="live" data-ended="false"')
    assert "<html" not in fragment.text
    assert 'held by <span class="mono">worker-1</span>' in fragment.text
    assert "held-1" in web.get("/nodes").text  # listed under the node that holds it
    flows.GATES["gate-live"].set()
    wait_until(lambda: ended(worker, run_id), what="the run completes")
    assert 'data-ended="true"' in web.get(f"/runs/{run_id}?fragment=live").text


def test_mounted_under_a_prefix(backend_url: str, worker: continuum.Continuum) -> None:
    run_id = worker.start(flows.Order, {}, run_id="order-mounted")
    wait_until(lambda: waiting_for_approval(worker, run_id), what="the order waits")
    observer = create_app(database=backend_url, token=TOKEN)
    host = Starlette(
        routes=[
            Route("/", lambda request: PlainTextResponse("the host app")),
            Mount("/continuum", app=observer),
        ]
    )
    # The host runs no lifespan for the mounted app: the observer boots at first use.
    with TestClient(host) as web:
        assert web.get("/").text == "the host app"
        home = web.get("/continuum/")
        assert home.status_code == 200
        links = re.findall(r'(?:href|src|action)="([^"#]+)"', home.text)
        assert links and all(link.startswith("/continuum/") for link in links), links
        for link in {*links}:
            if "logout" not in link:
                assert web.get(link.replace("&amp;", "&")).status_code == 200, link
        runs = web.get("/continuum/runs").text
        assert f'href="/continuum/runs/{run_id}"' in runs
        jump = web.get(f"/continuum/runs?id={run_id}", follow_redirects=False)
        assert jump.headers["location"] == f"/continuum/runs/{run_id}"

        answer = web.post("/continuum/login", data={"token": TOKEN}, follow_redirects=False)
        assert answer.headers["location"] == "/continuum/"
        assert "Path=/continuum" in answer.headers["set-cookie"]
        csrf = csrf_of(web.get(f"/continuum/runs/{run_id}").text)
        done = web.post(
            "/continuum/actions/cancel",
            data={"run_id": run_id, "csrf": csrf},
            follow_redirects=False,
        )
        assert done.headers["location"] == f"/continuum/runs/{run_id}"
        assert worker.get(run_id).status == "cancelled"
    observer.state.web.source.close()


def test_a_clear_error_without_the_web_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "continuum.web.app", raising=False)
    monkeypatch.setitem(sys.modules, "jinja2", None)
    with pytest.raises(WebExtraMissing, match=r"pip install 'continuum-python\[web\]'"):
        create_app(database="sqlite:///unused.db")
    assert issubclass(WebExtraMissing, continuum.ContinuumError)


def test_create_app_refuses_an_empty_token() -> None:
    with pytest.raises(continuum.ConfigurationError, match="token is empty"):
        create_app(database="sqlite:///unused.db", token=" ")


def test_mounted_with_its_lifespan_forwarded(backend_url: str, worker: continuum.Continuum) -> None:
    observer = create_app(database=backend_url)
    source = observer.state.web.source

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with observer.router.lifespan_context(observer):
            assert source.get().booted  # booted before the first request
            yield

    host = Starlette(routes=[Mount("/ops/continuum", app=observer)], lifespan=lifespan)
    with TestClient(host) as web:
        page = web.get("/ops/continuum/versions")
        assert page.status_code == 200
        assert 'href="/ops/continuum/static/continuum.css"' in page.text
    assert source._client is None  # shut down with the host


def test_the_observer_never_creates_or_upgrades_a_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app(database=url)
    with pytest.raises(SchemaError, match="continuum migrate"), TestClient(app):
        pass


def test_a_run_links_its_children_chain_and_attributes(
    worker: continuum.Continuum, observe: Observe
) -> None:
    order = worker.start(
        flows.ParcelOrder, {"parcels": ["a", "b"]}, attributes={"customer": "c-<42>"}
    )
    assert worker.result(order, timeout=10) == []
    continued = worker.get(order).continued_to
    assert continued is not None
    client = observe()

    def href(run_id: str) -> str:
        return f'href="/runs/{quote(run_id, safe="")}"'

    text = client.get(f"/runs/{order}").text
    for child in (f"{order}/0", f"{order}/2"):
        assert href(child) in text  # in the summary and the timeline
    assert "k-child_result" in text and "k-child" in text
    assert href(continued) in text and "Continued as" in text
    assert "customer=c-&lt;42&gt;" in text  # escaped
    child_page = client.get(f"/runs/{order}/0").text
    assert "Parent" in child_page and href(order) in child_page
    assert "Continues" in client.get(f"/runs/{continued}").text
    # the runs page filters by attribute, and by parent
    by_customer = client.get("/runs", params={"attr": "customer=c-<42>"}).text
    assert href(order) in by_customer
    assert href(continued) in by_customer  # attributes go along the chain
    assert href(f"{order}/0") not in by_customer
    children = client.get("/runs", params={"parent": order}).text
    assert href(f"{order}/0") in children and href(f"{order}/2") in children
    bad = client.get("/runs", params={"attr": "no-equals-sign"})
    assert "is not key=value" in bad.text
