"""The Starlette application: routes, the client instance, and page rendering.

Every page reads through one `continuum.Continuum(dispatch=False)` client (it
executes nothing and registers no workflow code), booted when the app starts.
An app mounted in another Starlette or FastAPI application does not get its
lifespan run unless the host forwards it, so the client also boots at the first
request that needs it.

Links are built from the app's own routes under the request's `root_path`, so
they stay right when the app is mounted under a prefix (`Mount("/continuum",
app)`) or served behind a proxy with `--root-path`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from continuum.errors import ConfigurationError, ContinuumError, DatabaseUnavailable
from continuum.instance import Continuum, read_only
from continuum.web import format as fmt
from continuum.web.security import FLASH_COOKIE, Guard, Refused, SecurityHeaders

HERE = Path(__file__).parent
CLIENT_NAME = "continuum-web"


class Source:
    """The one client instance a web app reads through; boots once, on first need."""

    def __init__(self, database: object = None, *, client: Continuum | None = None) -> None:
        self._database = database
        self._client = client
        self._owned = client is None  # a client handed in is its giver's to shut down
        self._lock = threading.Lock()

    def get(self) -> Continuum:
        client = self._client
        if client is not None and client.booted:
            return client
        with self._lock:
            if self._client is None or not self._client.booted:
                # concurrency=4: a pool of 8 connections for the pages
                self._client = read_only(self._database, name=CLIENT_NAME, concurrency=4)
                self._client.boot()
                self._owned = True
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            if client is not None and self._owned:
                client.shutdown()


class Web:
    """What the pages and actions share: the client, the guard and the templates."""

    def __init__(self, source: Source, guard: Guard, router: Router) -> None:
        self.source = source
        self.guard = guard
        self.router = router
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(
            absolute=fmt.absolute,
            iso=fmt.iso,
            span=fmt.span,
            pretty=fmt.pretty,
            compact=fmt.compact,
            short_hash=fmt.short_hash,
        )

    @property
    def client(self) -> Continuum:
        return self.source.get()

    def url(
        self, request: Request, name: str, /, query: dict[str, Any] | None = None, **params: str
    ) -> str:
        """The path of route `name` under this request's root path, with `query`."""
        quoted = {key: quote(value, safe="") for key, value in params.items()}
        path = request.scope.get("root_path", "").rstrip("/") + str(
            self.router.url_path_for(name, **quoted)
        )
        pairs = [(k, v) for k, v in (query or {}).items() if v not in (None, "", [])]
        flat = [(k, x) for k, v in pairs for x in (v if isinstance(v, list) else [v])]
        return f"{path}?{urlencode(flat)}" if flat else path

    def render(
        self,
        request: Request,
        template: str,
        *,
        status_code: int = 200,
        flash: tuple[str, str] | None = None,
        use_flash: bool = True,
        nav: str = "",
        **context: Any,
    ) -> HTMLResponse:
        """A page: the template with what every page shows (navigation, session, flash)."""
        session = self.guard.session(request)
        now = time.time()
        sealed = request.cookies.get(FLASH_COOKIE) if use_flash else None
        if flash is None and sealed:
            text = self.guard.unseal(sealed)
            if text is not None:
                level, _, message = text.partition(":")
                flash = (level, message)
        page = self.templates.get_template(template).render(
            request=request,
            url=lambda name, query=None, **params: self.url(request, name, query, **params),
            run_url=lambda run_id: self.url(request, "run", run_id=run_id),
            now=now,
            ago=lambda moment: fmt.relative(moment, now),
            can_act=self.guard.enabled,
            session=session is not None,
            csrf=self.guard.csrf(session),
            flash=flash,
            nav=nav,
            **context,
        )
        response = HTMLResponse(page, status_code=status_code)
        response.headers["cache-control"] = "no-store"
        if sealed:
            response.delete_cookie(FLASH_COOKIE, path=self.cookie_path(request))
        return response

    def error(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.render(
            request, "error.html", status_code=status, status=status, message=message
        )

    def cookie_path(self, request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/") or "/"

    def with_flash(
        self, request: Request, response: Response, level: str, message: str
    ) -> Response:
        """`response` carrying a message the next page shows once."""
        response.set_cookie(
            FLASH_COOKIE,
            self.guard.seal(f"{level}:{message}"),
            max_age=60,
            path=self.cookie_path(request),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response


Handler = Callable[[Web, Request], Response]


def page(web: Web, handler: Handler) -> Callable[[Request], Any]:
    """A GET route: `handler` runs in a worker thread (it reads the database);
    refusals and engine errors become error pages."""

    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(guarded, web, handler, request)

    return endpoint


def guarded(web: Web, handler: Handler, request: Request) -> Response:
    try:
        return handler(web, request)
    except Refused as exc:
        return web.error(request, exc.status, exc.message)
    except DatabaseUnavailable as exc:
        return web.error(request, 503, str(exc))
    except ContinuumError as exc:
        return web.error(request, 400, str(exc))


def build_app(
    database: object = None, token: str | None = None, *, client: Continuum | None = None
) -> Starlette:
    """The observer app (see `continuum.web.create_app`). `client`: a booted instance
    to read through instead of booting one (the CLI boots it first, to report a
    database it cannot reach in one line)."""
    from continuum.web import actions, pages  # noqa: PLC0415 - they import this module

    if token is not None and not token.strip():
        raise ConfigurationError("the web token is empty: give a long random string, or none")
    if database is None and client is None:
        raise ConfigurationError("create_app(database=...) needs the database URL to observe")
    source = Source(database, client=client)
    router = Router()
    web = Web(source, Guard(token), router)
    routes = [
        Route("/", page(web, pages.overview), name="overview"),
        Route("/runs", page(web, pages.runs), name="runs"),
        Route("/runs/{run_id:path}", page(web, pages.run), name="run"),
        Route("/versions", page(web, pages.versions), name="versions"),
        Route("/nodes", page(web, pages.nodes), name="nodes"),
        Route("/login", page(web, pages.login), name="login", methods=["GET"]),
        Route("/login", actions.endpoint(web, actions.login), name="do_login", methods=["POST"]),
        Route("/logout", actions.endpoint(web, actions.logout), name="logout", methods=["POST"]),
        Route(
            "/actions/cancel",
            actions.endpoint(web, actions.cancel),
            name="cancel",
            methods=["POST"],
        ),
        Route(
            "/actions/signal",
            actions.endpoint(web, actions.signal),
            name="signal",
            methods=["POST"],
        ),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    router.routes.extend(routes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(source.get)
        try:
            yield
        finally:
            await run_in_threadpool(source.close)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return web.error(request, 404, "there is no page here")
        return web.error(request, exc.status_code, str(exc.detail))

    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
    )
    app.state.web = web
    return app
