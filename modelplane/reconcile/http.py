"""The service's HTTP API on FastAPI/uvicorn: health, readiness, metrics, status, triggers and replicas.

Every route but ``/healthz`` and ``/readyz`` needs ``Authorization: Bearer <token>``. Bodies and headers are
bounded, malformed requests get a 4xx JSON answer, and nothing (not even a traceback) reaches the log
except as one redacted JSON line.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any, Protocol

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelplane.reconcile.logs import Redactor
from modelplane.reconcile.scaling import PlanRejectedError
from modelplane.reconcile.settings import HttpSettings
from modelplane.reconcile.stackfiles import StackFileError

log = logging.getLogger("modelplane.reconcile.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class UnknownStackError(LookupError):
    """The service does not reconcile that stack."""


class ServiceStoppingError(RuntimeError):
    """The service is shutting down and takes no new triggers."""


# Domain errors the routes let through, and how they are answered.
_STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (ServiceStoppingError, 503),
    (LookupError, 404),
    (PlanRejectedError, 422),
    (StackFileError, 500),
)


class ControlApi(Protocol):
    """What the HTTP layer needs from the service."""

    def ready(self) -> tuple[bool, dict[str, Any]]: ...

    def statuses(self) -> dict[str, Any]: ...

    def metrics_text(self) -> bytes: ...

    def trigger_manual(self, stack: str) -> None: ...

    def set_replicas(self, stack: str, deployment: str, replicas: int) -> dict[str, Any]: ...


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True)


class ErrorAnswer(_Model):
    error: str
    problems: list[str] = []


class HealthAnswer(_Model):
    status: str


class ReadyAnswer(_Model):
    ready: bool
    reason: str | None = Field(None, description="Why not ready: the stacks concerned, never an error's text")
    stacks: dict[str, dict[str, Any]]


class AcceptedAnswer(_Model):
    stack: str
    accepted: bool


class ReplicasRequest(_Model):
    replicas: int = Field(ge=0, le=1_000_000)


class ReplicasAnswer(_Model):
    stack: str
    deployment: str
    previous: int | None
    replicas: int


class _HttpError(Exception):
    def __init__(self, status: int, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.answer = status, ErrorAnswer(error=message, problems=problems or [])


# Module level, so FastAPI resolves the (postponed) annotation from the globals.
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorAnswer} for code in (400, 401, 404, 413, 422, 500, 503)
}


def build_app(api: ControlApi, redactor: Redactor, token: str | None, *, with_metrics: bool = True) -> FastAPI:
    """The control API; ``token`` None disables authentication (the caller checked it may)."""
    app = FastAPI(
        title="modelplane reconcile",
        version="1",
        docs_url=None,  # the interactive pages load scripts from a CDN; the document is at /openapi.json
        redoc_url=None,
        openapi_url=None,
    )

    def authorized(credentials: Credentials) -> None:
        if token is None:
            return
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise _HttpError(401, "unauthorized: send Authorization: Bearer <token>")

    guarded = [Depends(authorized)]

    def answer(status: int, body: BaseModel | dict[str, Any]) -> JSONResponse:
        content = body.model_dump(by_alias=True) if isinstance(body, BaseModel) else body
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(redactor.redact_tree(content), status_code=status, headers=headers)

    @app.exception_handler(_HttpError)
    async def _on_http_error(_: Request, exc: _HttpError) -> JSONResponse:
        return answer(exc.status, exc.answer)

    @app.exception_handler(StarletteHTTPException)
    async def _on_starlette(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return answer(exc.status_code, ErrorAnswer(error=str(exc.detail)))

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return answer(400, ErrorAnswer(error="invalid request", problems=_problems(exc.errors())))

    async def _on_domain_error(_: Request, exc: Exception) -> JSONResponse:
        status = next(code for kind, code in _STATUS_OF if isinstance(exc, kind))
        return answer(status, ErrorAnswer(error=str(exc), problems=list(getattr(exc, "problems", []))))

    for kind, _ in _STATUS_OF:  # handled here, not by the catch-all below (which also re-raises to the server)
        app.add_exception_handler(kind, _on_domain_error)

    @app.exception_handler(Exception)
    async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged before the answer leaves, so a client that sees the 500 finds its log line.
        _log_failure(exc, request.scope)
        return answer(500, ErrorAnswer(error="internal error (see service log)"))

    @app.get("/healthz", response_model=HealthAnswer)
    def healthz() -> JSONResponse:
        return answer(200, HealthAnswer(status="ok"))

    @app.get("/readyz", response_model=ReadyAnswer, responses={503: {"model": ReadyAnswer}})
    def readyz() -> JSONResponse:
        ready, detail = api.ready()
        return answer(200 if ready else 503, {"ready": ready, **detail})

    if with_metrics:
        add_metrics_route(app, api, guarded)

    @app.get("/stacks", dependencies=guarded, response_model=dict[str, dict[str, Any]], responses=_ERRORS)
    def stacks() -> JSONResponse:
        return answer(200, api.statuses())

    @app.post(
        "/stacks/{stack}/reconcile",
        dependencies=guarded,
        status_code=202,
        response_model=AcceptedAnswer,
        responses=_ERRORS,
    )
    def reconcile(stack: str) -> JSONResponse:
        api.trigger_manual(stack)
        return answer(202, AcceptedAnswer(stack=stack, accepted=True))

    @app.put(
        "/stacks/{stack}/deployments/{deployment}/replicas",
        dependencies=guarded,
        response_model=ReplicasAnswer,
        responses=_ERRORS,
        openapi_extra={"requestBody": _body_schema(ReplicasRequest)},
    )
    async def replicas(stack: str, deployment: str, request: Request) -> JSONResponse:
        # Parsed by pydantic-core, not json.loads: it bounds nesting depth instead of raising RecursionError.
        try:
            body = ReplicasRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise _HttpError(400, 'body must be {"replicas": <integer >= 0>}', _problems(exc.errors())) from None
        # The scale path plans and writes files: off the event loop, so one slow plan does not stall the port.
        result = await asyncio.to_thread(api.set_replicas, stack, deployment, body.replicas)
        return answer(200, ReplicasAnswer(**result))

    @app.get("/openapi.json", dependencies=guarded, include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    return app


def add_metrics_route(app: FastAPI, api: ControlApi, dependencies: list[Any]) -> None:
    @app.get(
        "/metrics",
        dependencies=dependencies,
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, **_ERRORS},
    )
    def metrics() -> Response:
        return Response(api.metrics_text(), media_type=CONTENT_TYPE_LATEST)


def metrics_app(api: ControlApi) -> FastAPI:
    """``/metrics`` alone and without a token, for a listener of its own (``http.metricsPort``)."""
    app = FastAPI(title="modelplane reconcile metrics", docs_url=None, redoc_url=None, openapi_url=None)
    add_metrics_route(app, api, [])
    return app


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": model.model_json_schema(by_alias=True)}}}


def _problems(errors: Any) -> list[str]:
    """Field path and message of each validation error; never the offending input (it may be anything)."""
    return [f"{'.'.join(str(p) for p in e.get('loc', ())) or 'body'}: {e.get('msg', 'invalid')}" for e in errors][:20]


class BoundedGuard:
    """Outermost ASGI layer: bounds headers (431) and the body (413), catches what escapes the app (one log
    line, 500). h11 bounds a request head still arriving; a complete one can be larger, hence the check here."""

    def __init__(self, app: Asgi, max_body: int, max_headers: int) -> None:
        self.app, self.max_body, self.max_headers = app, max_body, max_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if sum(len(name) + len(value) for name, value in scope["headers"]) > self.max_headers:
            await _plain_error(send, 431, "request headers too large")
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _plain_error(send, 413 if declared.isdigit() else 400, "body too large or bad Content-Length")
            return
        state = {"received": 0, "started": False, "rejected": False}

        async def tracking_send(message: Message) -> None:
            if state["rejected"]:
                return  # the 413 is already out; the app's own answer goes nowhere
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        async def bounded_receive() -> Message:
            message = await receive()
            state["received"] += len(message.get("body", b""))
            if state["received"] > self.max_body and not state["rejected"]:
                if not state["started"]:
                    await _plain_error(send, 413, "body too large")
                state["rejected"] = True
            # To the app, a body past the bound is a client that went away: it stops reading and answers no one.
            return {"type": "http.disconnect"} if state["rejected"] else message

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - the answer is already a JSON 500; log one line, no traceback
            if state["rejected"]:
                return
            if not scope.get(_LOGGED):
                _log_failure(exc, scope)
            if not state["started"]:
                await _plain_error(send, 500, "internal error (see service log)")


_LOGGED = "modelplane.failure_logged"  # scope key: the app's catch-all logged this request's failure


def _log_failure(exc: Exception, scope: Scope) -> None:
    """One line, the exception's type only: its text may hold anything (paths, inputs)."""
    log.error("http handler failed: %s", type(exc).__name__, extra={"path": scope.get("path", "")})
    scope[_LOGGED] = True


async def _plain_error(send: Send, status: int, message: str) -> None:
    payload = ErrorAnswer(error=message).model_dump_json().encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class ControlServer:
    """uvicorn serving ``app`` on its own thread; the socket is bound at construction, so ``port`` is known."""

    def __init__(self, app: FastAPI, host: str, port: int, settings: HttpSettings, *, name: str = "http") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        config = uvicorn.Config(
            BoundedGuard(app, settings.max_body_bytes, settings.max_header_bytes),
            http="h11",
            lifespan="off",
            log_config=None,  # uvicorn's loggers propagate to the service's JSON handler
            access_log=False,
            server_header=False,
            limit_concurrency=settings.max_concurrency,
            h11_max_incomplete_event_size=settings.max_header_bytes,
            timeout_keep_alive=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"modelplane-{name}", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self._server.started or not self._thread.is_alive():
                break
            deadline.wait(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()
