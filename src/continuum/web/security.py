"""Who may act, and what protects the pages: token, session, CSRF, headers.

- No token configured: every page is read-only and every POST is refused.
- With a token, acting needs a session: the login form takes the token
  (compared with `hmac.compare_digest`) and sets the session cookie, HttpOnly
  and SameSite=Strict (and Secure over https). The cookie holds an expiry, a
  random id and an HMAC of both under a key derived from the token, so changing
  the token ends every session, and several server processes given the same
  token accept each other's sessions.
- Every POST is checked for where it came from: a `Sec-Fetch-Site` other than
  `same-origin`, or an `Origin` whose host is not this request's `Host`, is
  refused (`Origin: null`, which browsers send for forms of a no-referrer page,
  proves nothing either way). Forms also carry a CSRF token, an HMAC of the
  session id, compared in constant time: a request without the session's own
  token is refused even from a browser that sends neither header.
- Every response carries a Content-Security-Policy that allows scripts and
  styles from this app only (no inline script at all), forbids framing, and
  sends no referrer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "continuum_session"
FLASH_COOKIE = "continuum_flash"
SESSION_SECONDS = 12 * 3600
# Failed logins: at most this many in the last minute, then refused for a while.
LOGIN_FAILURES = 10
LOGIN_WINDOW = 60.0

HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class Refused(Exception):
    """A request the guard turns away; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Guard:
    """The token, sessions and CSRF tokens of one web app."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        secret = token.encode() if token else secrets.token_bytes(32)
        self._key = hmac.new(secret, b"continuum-web-session-1", hashlib.sha256).digest()
        self._failures: deque[float] = deque(maxlen=LOGIN_FAILURES)

    @property
    def enabled(self) -> bool:
        """Whether actions are possible at all (a token is configured)."""
        return self.token is not None

    # -- logging in ------------------------------------------------------------------
    def login(self, given: str) -> str:
        """A new session cookie value for the right token; Refused otherwise."""
        if self.token is None:
            raise Refused(403, "this observer is read-only: it was started without a token")
        now = time.monotonic()
        if len(self._failures) == LOGIN_FAILURES and now - self._failures[0] < LOGIN_WINDOW:
            raise Refused(429, "too many wrong tokens: wait a minute and try again")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            self._failures.append(now)
            raise Refused(401, "wrong token")
        expires = int(time.time()) + SESSION_SECONDS
        body = f"{expires}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign('session', body)}"

    def session(self, request: Request) -> str | None:
        """The request's valid session cookie, or None."""
        if self.token is None:
            return None
        value = request.cookies.get(SESSION_COOKIE, "")
        body, _, signature = value.rpartition(".")
        if not body or not hmac.compare_digest(signature, self._sign("session", body)):
            return None
        expires, _, _ = body.partition(".")
        if not expires.isdigit() or int(expires) < time.time():
            return None
        return value

    def csrf(self, session: str | None) -> str:
        """The CSRF token forms of this session carry ("" without a session)."""
        return self._sign("csrf", session) if session else ""

    # -- checking a POST -------------------------------------------------------------
    def check_origin(self, request: Request) -> None:
        """Refuse a request a browser marks as coming from another site."""
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site != "same-origin":
            raise Refused(403, f"refused a cross-site request (Sec-Fetch-Site: {fetch_site})")
        origin = request.headers.get("origin")
        # "null" says nothing: browsers send it for every form of a page whose
        # referrer policy is no-referrer, as ours is. The CSRF token decides then.
        if origin is not None and origin != "null":
            host = request.headers.get("host", "")
            if urlsplit(origin).netloc.lower() != host.lower():
                raise Refused(403, "refused a request from another origin")

    def check_action(self, request: Request, form: dict[str, str]) -> str:
        """Everything a mutating request needs: a token configured, a same-origin
        request, a valid session and its CSRF token. Returns the session."""
        if self.token is None:
            raise Refused(403, "this observer is read-only: start it with a token to act")
        self.check_origin(request)
        session = self.session(request)
        if session is None:
            raise Refused(401, "log in with the observer's token first")
        given = form.get("csrf", "")
        if not hmac.compare_digest(given.encode(), self.csrf(session).encode()):
            raise Refused(403, "refused: the form's CSRF token does not match your session")
        return session

    # -- signed values (the flash message) ---------------------------------------------
    def seal(self, text: str) -> str:
        body = base64.urlsafe_b64encode(text.encode()).decode()
        return f"{body}.{self._sign('flash', body)}"

    def unseal(self, value: str) -> str | None:
        body, _, signature = value.rpartition(".")
        if not body or not hmac.compare_digest(signature, self._sign("flash", body)):
            return None
        try:
            return base64.urlsafe_b64decode(body.encode()).decode()
        except ValueError:
            return None

    def _sign(self, purpose: str, text: str) -> str:
        mac = hmac.new(self._key, f"{purpose}:{text}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")


class SecurityHeaders:
    """ASGI middleware: the headers in HEADERS on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
