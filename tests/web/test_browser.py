"""The web observer in a real browser: Debian's headless Chromium, driven by
Playwright, against the app served by uvicorn on 127.0.0.1 and a real database
whose runs a worker executes.

Skipped, saying how to fix it, only when no Chromium can be found (`make browser`
installs it as root). The scenario takes screenshots of the main pages; with
CONTINUUM_SCREENSHOTS=1 it saves them to docs/screenshots/ (from the last backend
run), otherwise to a temporary folder, so a test run leaves the tree as it was.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import continuum
from continuum.web import create_app
from tests.conftest import raw_sql, wait_until
from tests.pgcluster import free_port
from tests.web import flows
from tests.web.conftest import TOKEN

CHROMIUM = os.environ.get("CONTINUUM_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = (
    Path(__file__).parents[2] / "docs" / "screenshots"
    if os.environ.get("CONTINUUM_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "continuum-screenshots"
)
WAIT_MS = 15_000  # how long the browser waits for a condition before the test fails

playwright_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed: pip install -e '.[dev]' (the browser tests are skipped)",
)
expect = playwright_api.expect


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"NO BROWSER, SO THE BROWSER TESTS DID NOT RUN: {CHROMIUM} is missing. Install "
            "Debian's Chromium with 'make browser' (as root: apt-get install -y chromium "
            "chromium-driver), or point CONTINUUM_CHROMIUM at a Chromium binary"
        )
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield chromium
        chromium.close()


class Served:
    """An ASGI app served by uvicorn in a thread, on 127.0.0.1 and a free port."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=20, what="uvicorn to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def serve(backend_url: str) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(token: str | None) -> Served:
        served = Served(create_app(database=backend_url, token=token)).__enter__()
        started.append(served)
        return served

    yield start
    for served in reversed(started):
        served.__exit__()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    problems: list[str] = []
    confirms: list[str] = []  # the confirmations the test expects, accepted in order

    def dialog(box: Any) -> None:
        if box.type == "confirm" and confirms:
            confirms.pop(0)
            box.accept()
        else:
            problems.append(f"unexpected {box.type} {box.message!r}")
            box.dismiss()

    def console(message: Any) -> None:
        expected = re.search(r"status of (400|401)\b", message.text)  # the forms' refusals
        if message.type == "error" and not expected:
            problems.append(message.text)

    tab.on("console", console)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.on("dialog", dialog)
    tab.confirms = confirms
    yield tab
    context.close()
    assert not problems, problems  # no script error, no CSP violation, no alert() ran


def stage_history(url: str, worker: continuum.Continuum) -> None:
    """Runs spread over the last day, so the overview's chart has something to draw."""
    now = time.time()
    ids = [worker.start(flows.Echo, n, run_id=f"history-{n:03d}") for n in range(48)]
    failed = [worker.start(flows.Refused, "expired card", run_id=f"history-f{n}") for n in range(6)]
    wait_until(lambda: all(worker.get(r).finished for r in ids + failed), what="history ends")
    for n, run_id in enumerate(ids + failed):
        started = now - 86000 + (n * 1597 % 86000)
        raw_sql(
            url,
            "UPDATE continuum_runs SET created_at = ?, updated_at = ? WHERE id = ?",
            (_stamp(url, started), _stamp(url, started + 2), run_id),
        )


def _stamp(url: str, seconds: float) -> Any:
    if url.startswith("sqlite"):
        return seconds
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def shoot(tab: Any, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def test_an_operator_in_the_browser(
    backend_url: str, worker: continuum.Continuum, serve: Callable[..., Served], page: Any
) -> None:
    stage_history(backend_url, worker)
    waiting = worker.start(
        flows.Order, {"amount": 42, "email": "ana@example.com"}, run_id="order-1001"
    )
    doomed = worker.start(flows.Order, {"amount": 7}, run_id="order-1002")
    worker.start(flows.Held, "gate-browser", run_id="held-2001")
    flows.FAILURES["ledger"] = 1
    worker.start(flows.Retrying, "ledger", run_id="retrying-3001")
    evil = worker.start(
        flows.Echo, {"note": "<script>alert('stored')</script>"}, run_id="echo-evil"
    )
    refused = worker.start(flows.Refused, "card declined", run_id="refused-4001")
    for run_id in (waiting, doomed):
        wait_until(
            lambda r=run_id: [e.kind for e in worker.store.load_journal(r)][-1:] == ["signal_wait"],
            what=f"{run_id} to wait for its signal",
        )
    wait_until(lambda: worker.get("held-2001").status == "running", what="the held run")
    wait_until(lambda: worker.get(evil).finished and worker.get(refused).finished, what="ends")
    site = serve(token=TOKEN).url

    # The runs page, then a filter.
    page.goto(f"{site}/runs")
    expect(page.locator("table.runs tbody tr")).to_have_count(50)  # one full page
    expect(page.get_by_role("link", name="Older →")).to_be_visible()
    shoot(page, "runs", full_page=False)
    page.locator("label.check", has=page.locator("input[value=failed]")).click()
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=failed"))
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(7)  # six from the history, one now
    expect(rows.locator(".badge.s-failed")).to_have_count(7)
    page.get_by_role("link", name="refused-4001").click()
    expect(page.locator(".run-error")).to_contain_text("PermissionError: card declined")
    expect(page.locator("pre.traceback")).to_contain_text("Traceback")

    # Stored markup is text, never run as script (the page fixture fails on any dialog).
    page.goto(f"{site}/runs/{evil}")
    expect(page.locator("#d-output pre")).to_contain_text("<script>alert('stored')</script>")

    # A run and its timeline, followed live.
    page.goto(f"{site}/runs")
    page.get_by_role("link", name=waiting).click()
    steps = page.locator("ol.timeline li.step")
    expect(steps).to_have_count(3)
    expect(steps.nth(0)).to_contain_text("charge")
    expect(steps.nth(0).locator(".state")).to_have_text("done")
    expect(steps.nth(1).locator(".kind")).to_have_text("timer")
    expect(steps.nth(2).locator(".kind")).to_have_text("signal wait")
    expect(steps.nth(2)).to_contain_text("approval")
    expect(page.locator(".live-dot")).to_be_visible()

    # Without logging in, actions are refused: the form is not there, only the way in.
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    page.get_by_role("link", name="Log in to act").first.click()
    page.get_by_label("Token").fill("not the token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong token")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".flash.ok")).to_have_text("Logged in: actions are enabled.")
    expect(page).to_have_url(f"{site}/runs/{waiting}")

    # A payload that is not JSON is refused beside the form, what was typed kept.
    page.get_by_label("Name").fill("approval")
    page.get_by_label("Payload (JSON)").fill("{by: ana}")
    page.get_by_role("button", name="Send signal").click()
    expect(page.locator(".signal-form .form-error")).to_contain_text("The payload is not JSON")
    expect(page.get_by_label("Payload (JSON)")).to_have_value("{by: ana}")
    shoot(page, "run-live")

    # The signal is sent; the page follows the run as it takes it and completes.
    page.get_by_label("Payload (JSON)").fill('{"by": "browser"}')
    page.get_by_role("button", name="Send signal").click()
    expect(page.locator(".flash.ok")).to_have_text("Sent signal 'approval' to the run.")
    expect(page.locator(".summary .badge")).to_have_text("completed", timeout=WAIT_MS)
    expect(steps.nth(2).locator(".kind")).to_have_text("signal")
    expect(steps.nth(2)).to_contain_text('{"by": "browser"}')
    expect(page.locator(".step .kind.k-patch")).to_have_count(1)
    expect(page.locator("table.grid.compact")).to_contain_text("at #2")
    expect(page.locator(".live-dot")).to_have_count(0)
    shoot(page, "run")

    # Cancel another run (the browser asks first).
    page.goto(f"{site}/runs/{doomed}")
    page.confirms.append("cancel")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator(".flash.ok")).to_have_text("Cancelled the run.")
    expect(page.locator(".summary .badge")).to_have_text("cancelled")
    assert worker.get(doomed).status == "cancelled"

    # The versions, nodes and overview pages.
    page.goto(f"{site}/versions")
    expect(page.locator("tr", has_text="tests.web.flows.Order").first).to_contain_text(
        "worker/worker-1"
    )
    shoot(page, "versions")
    page.goto(f"{site}/nodes")
    expect(page.locator("section.node")).to_contain_text("held-2001")
    shoot(page, "nodes")
    page.goto(f"{site}/")
    expect(page.locator("svg.chart rect.bar.started").first).to_be_visible()
    shoot(page, "overview")


def test_read_only_in_the_browser(
    worker: continuum.Continuum, serve: Callable[..., Served], page: Any
) -> None:
    run_id = worker.start(flows.Order, {}, run_id="order-read-only")
    wait_until(
        lambda: [e.kind for e in worker.store.load_journal(run_id)][-1:] == ["signal_wait"],
        what="the order to wait",
    )
    site = serve(token=None).url
    page.goto(f"{site}/runs/{run_id}")
    expect(page.locator(".actions")).to_contain_text("Read-only")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    expect(page.locator(".top .pill")).to_have_text("read-only")
