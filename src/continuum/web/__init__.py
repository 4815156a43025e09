"""The web observer: server-rendered pages over one Continuum database.

    app = continuum.web.create_app(database="postgresql://app@db/orders", token=T)
    # uvicorn: `uvicorn.run(app)`; or mount it: `Mount("/continuum", app=app)`

`continuum web --database URL` serves it with uvicorn on 127.0.0.1:8765.

It needs the `[web]` extra (Starlette, Jinja2, uvicorn), imported only when an
app is made, so `import continuum.web` works without it and `create_app` says
what to install. The pieces, each a module of its own:

- `app`: the Starlette application, its routes and the one client instance
  (`dispatch=False`: it executes nothing) that every page reads through.
- `pages` (the GET pages) and `actions` (the POST forms: log in, cancel, signal).
- `security`: the token, the session cookie, CSRF and same-origin checks, and
  the response headers (a CSP that allows no inline script).
- `timeline` and `chart`: a run's journal as steps on a time scale, and runs over
  time as an SVG bar chart; plain functions, no web framework in them.
- `format`: how times, durations and values read on a page.

Without a token every page is read-only; with one, actions need a session made
by logging in with it (docs/observer.md describes the model).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from continuum.errors import ConfigurationError

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["WebExtraMissing", "create_app"]

INSTALL_HINT = "pip install 'continuum-python[web]'"


class WebExtraMissing(ConfigurationError):
    """The web observer's libraries (the `[web]` extra) are not installed."""


def create_app(database: object = None, token: str | None = None) -> Starlette:
    """An ASGI application showing the runs in `database`; read-only without `token`.

    `database` is what `continuum.Continuum(database=...)` takes (a URL). The app
    boots one client instance when it starts (or at its first request when it is
    mounted in an application that does not run its lifespan) and shuts it down
    when it stops.
    """
    build = load()
    return build(database=database, token=token)


def load() -> Callable[..., Starlette]:
    """The app builder, or WebExtraMissing naming the extra to install."""
    try:
        from continuum.web.app import build_app  # noqa: PLC0415 - the optional extra
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise WebExtraMissing(
            f"the web observer needs the [web] extra ({missing} is not installed): {INSTALL_HINT}"
        ) from None
    return build_app
