"""Liveness and readiness endpoints for orchestrators (`continuum worker --health-port`).

    GET /livez   200 while the node's dispatcher threads run; 503 once one died
    GET /readyz  200 when booted, dispatching and the database answers; else 503
    GET /healthz the full health report (`app.health()`) as JSON; 503 unless ok

Kubernetes restarts a pod whose liveness fails and stops routing to one whose
readiness fails; the worker serves no traffic, so readiness is for rollouts
(wait until new nodes are ready before stopping old ones). The server is the
standard library's: a worker needs no web framework for three small answers.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from continuum.errors import ConfigurationError, ContinuumError
from continuum.instance import Continuum

logger = logging.getLogger("continuum.probes")


def _answers(app: Continuum) -> dict[str, Callable[[], tuple[int, dict[str, Any]]]]:
    def livez() -> tuple[int, dict[str, Any]]:
        status = app.node_status()
        return (200 if status["dispatching"] else 503), status

    def readyz() -> tuple[int, dict[str, Any]]:
        status = app.node_status()
        if not status["dispatching"]:
            return 503, {**status, "reason": "not dispatching"}
        try:
            app.store.now()
        except ContinuumError as exc:
            return 503, {**status, "reason": f"database: {exc}"}
        return 200, status

    def healthz() -> tuple[int, dict[str, Any]]:
        report = app.health()
        return (200 if report["ok"] else 503), report

    return {"/livez": livez, "/readyz": readyz, "/healthz": healthz}


def serve_probes(app: Continuum, host: str, port: int) -> ThreadingHTTPServer:
    """Serve the probes on a daemon thread; `server.shutdown()` stops them.
    Port 0 picks a free port (`server.server_address` tells which)."""
    answers = _answers(app)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = answers.get(self.path.split("?", 1)[0])
            if answer is None:
                code, body = 404, {"error": f"no such probe; try {', '.join(answers)}"}
            else:
                try:
                    code, body = answer()
                except Exception as exc:  # a probe that fails says so; it never kills the node
                    code, body = 503, {"error": f"{type(exc).__name__}: {exc}"}
            data = json.dumps(body, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("probe %s", format % args)

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot serve the health endpoints on {host}:{port} ({exc.strerror or exc}); "
            "choose another --health-port"
        ) from None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="continuum probes", daemon=True)
    thread.start()
    return server
