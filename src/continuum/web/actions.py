"""The POST forms: log in, log out, cancel a run, send a signal.

Each one is checked by the guard first (see `security`): a token configured, a
same-origin request, and, except for logging in, a session and its CSRF token.
A success redirects (303) to the page it acted on, with a one-time message; a
mistake in the form (a payload that is not JSON, a signal name the engine
refuses, a run that has ended) shows the page again with the message beside
the form and what was typed kept.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from continuum.errors import ContinuumError, RunNotFound
from continuum.web.app import Web
from continuum.web.pages import _safe_next, run_page
from continuum.web.security import SESSION_COOKIE, SESSION_SECONDS, Refused

MAX_FORM_BYTES = 1 << 20  # a signal payload up to about a megabyte

Action = Callable[[Web, Request, dict[str, str]], Response]


def endpoint(web: Web, action: Action) -> Callable[[Request], Awaitable[Response]]:
    """A POST route: read the form, then run `action` in a worker thread."""

    async def post(request: Request) -> Response:
        try:
            form = await _read_form(request)
            return await run_in_threadpool(_guarded, web, action, request, form)
        except Refused as exc:
            return web.error(request, exc.status, exc.message)

    return post


def _guarded(web: Web, action: Action, request: Request, form: dict[str, str]) -> Response:
    try:
        return action(web, request, form)
    except Refused as exc:
        return web.error(request, exc.status, exc.message)


async def _read_form(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(415, "send the form as application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Refused(413, f"the form is larger than {MAX_FORM_BYTES:,} bytes")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Refused(400, "the form is not UTF-8") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def login(web: Web, request: Request, form: dict[str, str]) -> Response:
    web.guard.check_origin(request)
    target = _safe_next(request, form.get("next", "")) or web.url(request, "overview")
    try:
        session = web.guard.login(form.get("token", ""))
    except Refused as exc:
        return web.render(
            request,
            "login.html",
            status_code=exc.status,
            nav="login",
            next=target,
            error=exc.message,
        )
    response = RedirectResponse(target, 303)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=SESSION_SECONDS,
        path=web.cookie_path(request),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return web.with_flash(request, response, "ok", "Logged in: actions are enabled.")


def logout(web: Web, request: Request, form: dict[str, str]) -> Response:
    web.guard.check_action(request, form)
    response = RedirectResponse(web.url(request, "overview"), 303)
    response.delete_cookie(SESSION_COOKIE, path=web.cookie_path(request))
    return web.with_flash(request, response, "ok", "Logged out.")


def cancel(web: Web, request: Request, form: dict[str, str]) -> Response:
    web.guard.check_action(request, form)
    run_id = form.get("run_id", "")
    client = web.client
    try:
        cancelled = client.cancel(run_id)
        status = client.get(run_id).status
    except RunNotFound:
        return web.error(request, 404, f"no run has the id {run_id!r}")
    except ContinuumError as exc:
        return _back(web, request, run_id, "error", f"Not cancelled: {exc}")
    if cancelled and status != "cancelled":
        return _back(
            web,
            request,
            run_id,
            "ok",
            "Asked the run to cancel: it unwinds, then ends cancelled. Cancel again to end it now.",
        )
    if cancelled:
        return _back(web, request, run_id, "ok", "Cancelled the run.")
    return _back(
        web, request, run_id, "info", f"The run had already ended ({status}): nothing to cancel."
    )


def signal(web: Web, request: Request, form: dict[str, str]) -> Response:
    web.guard.check_action(request, form)
    run_id = form.get("run_id", "")
    name = form.get("name", "").strip()
    text = form.get("payload", "")
    delivery_id = form.get("delivery_id", "").strip() or None
    typed = {"name": name, "payload": text, "delivery_id": delivery_id or ""}

    def again(message: str) -> Response:
        return run_page(
            web, request, run_id, status_code=400, signal_form={**typed, "error": message}
        )

    try:
        payload = _json(text)
    except ValueError as exc:
        return again(f"The payload is not JSON: {exc}")
    if not name:
        return again("Give the signal a name.")
    try:
        web.client.signal(run_id, name, payload, delivery_id=delivery_id)
    except RunNotFound:
        return web.error(request, 404, f"no run has the id {run_id!r}")
    except ContinuumError as exc:
        return again(f"Not sent: {exc}")
    return _back(web, request, run_id, "ok", f"Sent signal {name!r} to the run.")


def _json(text: str) -> Any:
    """The payload field: JSON (empty means null). NaN and Infinity are refused."""
    if not text.strip():
        return None

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON value")

    return json.loads(text, parse_constant=refuse)


def _back(web: Web, request: Request, run_id: str, level: str, message: str) -> Response:
    response = RedirectResponse(web.url(request, "run", run_id=run_id), 303)
    return web.with_flash(request, response, level, message)
