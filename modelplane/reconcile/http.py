"""The service's HTTP port: health, readiness, metrics, manual triggers and the replicas endpoint."""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST

from modelplane.reconcile.scaling import PlanRejectedError
from modelplane.reconcile.stackfiles import StackFileError

log = logging.getLogger("modelplane.reconcile.http")

_RECONCILE = re.compile(r"^/stacks/(?P<stack>[^/]+)/reconcile$")
_REPLICAS = re.compile(r"^/stacks/(?P<stack>[^/]+)/deployments/(?P<deployment>[^/]+)/replicas$")
_MAX_BODY = 64 * 1024


class HttpError(Exception):
    """An error the API answers with a status and a JSON body."""

    def __init__(self, status: HTTPStatus, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **fields}


class UnknownStackError(LookupError):
    """The service does not reconcile that stack."""


class ServiceStoppingError(RuntimeError):
    """The service is shutting down and takes no new triggers."""


# Domain errors the routes let through, and how they are answered.
_STATUS_OF: tuple[tuple[type[Exception], HTTPStatus], ...] = (
    (ServiceStoppingError, HTTPStatus.SERVICE_UNAVAILABLE),
    (LookupError, HTTPStatus.NOT_FOUND),
    (PlanRejectedError, HTTPStatus.UNPROCESSABLE_ENTITY),
    (StackFileError, HTTPStatus.INTERNAL_SERVER_ERROR),
)


class ControlApi(Protocol):
    """What the HTTP layer needs from the service."""

    def ready(self) -> tuple[bool, dict[str, Any]]: ...

    def statuses(self) -> dict[str, Any]: ...

    def metrics_text(self) -> bytes: ...

    def trigger_manual(self, stack: str) -> None: ...

    def set_replicas(self, stack: str, deployment: str, replicas: int) -> dict[str, Any]: ...


class ControlServer:
    """A threading HTTP server on its own thread; ``port`` is the bound port (0 picks a free one)."""

    def __init__(self, api: ControlApi, host: str, port: int, *, token: str | None = None) -> None:
        handler = type("Handler", (_Handler,), {"api": api, "token": token})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        # A short poll interval keeps shutdown quick; the cost is a few idle wake-ups per second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="modelplane-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() would wait forever for a loop that never ran
            self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    api: ControlApi
    token: str | None
    server_version = "modelplane-reconcile"

    def do_GET(self) -> None:
        self._respond(self._get)

    def do_POST(self) -> None:
        self._respond(self._post)

    def do_PUT(self) -> None:
        self._respond(self._put)

    @property
    def route(self) -> str:
        """The request path without its query string."""
        return urlsplit(self.path).path

    def _get(self) -> tuple[HTTPStatus, Any]:
        if self.route == "/healthz":
            return HTTPStatus.OK, {"status": "ok"}
        if self.route == "/readyz":
            ready, detail = self.api.ready()
            return (HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE), {"ready": ready, **detail}
        if self.route == "/metrics":
            return HTTPStatus.OK, self.api.metrics_text()
        if self.route == "/stacks":
            return HTTPStatus.OK, self.api.statuses()
        raise HttpError(HTTPStatus.NOT_FOUND, f"no route GET {self.route}")

    def _post(self) -> tuple[HTTPStatus, Any]:
        match = _RECONCILE.match(self.route)
        if not match:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no route POST {self.route}")
        self._authorize()
        self.api.trigger_manual(match["stack"])
        return HTTPStatus.ACCEPTED, {"stack": match["stack"], "accepted": True}

    def _put(self) -> tuple[HTTPStatus, Any]:
        match = _REPLICAS.match(self.route)
        if not match:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no route PUT {self.route}")
        self._authorize()
        replicas = self._json_body().get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise HttpError(HTTPStatus.BAD_REQUEST, 'body must be {"replicas": <integer>}')
        return HTTPStatus.OK, self.api.set_replicas(match["stack"], match["deployment"], replicas)

    def _authorize(self) -> None:
        """Mutating routes need ``Authorization: Bearer <token>`` when the service has a token."""
        if self.token is None:
            return
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token")

    def _json_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return body

    def _respond(self, route: Callable[[], tuple[HTTPStatus, Any]]) -> None:
        try:
            status, body = route()
        except HttpError as exc:
            status, body = exc.status, exc.body
        except tuple(kind for kind, _ in _STATUS_OF) as exc:
            status = next(code for kind, code in _STATUS_OF if isinstance(exc, kind))
            body = {"error": str(exc), "problems": list(getattr(exc, "problems", []))}
        except Exception:
            log.exception("http handler failed", extra={"path": self.path})
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error (see service log)"}
        if isinstance(body, bytes):
            payload, content_type = body, CONTENT_TYPE_LATEST
        else:
            payload, content_type = json.dumps(body, default=str).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)
