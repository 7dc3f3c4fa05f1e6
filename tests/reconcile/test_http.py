"""The control API on a real loopback socket: authentication on by default, bounded and malformed requests,
JSON-only logs, the separate metrics listener, and the token's setup rules."""

from __future__ import annotations

import io
import json
import logging
import socket
import stat
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelplane.reconcile.auth import AuthSetupError, read_client_token, resolve_auth
from modelplane.reconcile.http import ControlServer, build_app, metrics_app
from modelplane.reconcile.logs import Redactor, json_handler
from modelplane.reconcile.settings import HttpSettings

TOKEN = "s3cret-token-for-tests"


class StubApi:
    """The ControlApi with canned answers; ``boom`` makes the replicas route raise an unexpected error."""

    def __init__(self) -> None:
        self.triggered: list[str] = []
        self.boom: Exception | None = None

    def ready(self) -> tuple[bool, dict[str, Any]]:
        return True, {"stacks": {"dev": {"phase": "idle"}}}

    def statuses(self) -> dict[str, Any]:
        return {"dev": {"phase": "idle", "lastError": None}}

    def metrics_text(self) -> bytes:
        return b"# HELP x y\nx 1.0\n"

    def trigger_manual(self, stack: str) -> None:
        if stack != "dev":
            raise LookupError(f"this service does not reconcile stack '{stack}'")
        self.triggered.append(stack)

    def set_replicas(self, stack: str, deployment: str, replicas: int) -> dict[str, Any]:
        if self.boom:
            raise self.boom
        return {"stack": stack, "deployment": deployment, "previous": 1, "replicas": replicas}


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything logged under uvicorn's and the service's loggers, through the production JSON handler."""
    stream = io.StringIO()
    handler = json_handler(Redactor(), stream)
    loggers = [logging.getLogger(name) for name in ("modelplane", "uvicorn", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    yield stream
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture
def api() -> StubApi:
    return StubApi()


@pytest.fixture
def port(api: StubApi, logs: io.StringIO) -> Iterator[int]:
    settings = HttpSettings(max_body_bytes=1024, max_header_bytes=4096, max_concurrency=4)
    server = ControlServer(build_app(api, Redactor(), TOKEN), "127.0.0.1", 0, settings)
    server.start()
    yield server.port
    server.stop()


def request(port: int, method: str, path: str, body: bytes | None = None, token: str | None = TOKEN) -> tuple[int, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            status, raw, kind = response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(), error.headers["Content-Type"]
    return status, (raw.decode() if kind.startswith("text/plain") else json.loads(raw))


def raw(port: int, data: bytes) -> bytes:
    """Send bytes as they are and read the whole answer (for requests no HTTP client would send)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


PROTECTED = [
    ("GET", "/stacks"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("POST", "/stacks/dev/reconcile"),
    ("PUT", "/stacks/dev/deployments/qwen/replicas"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
def test_every_route_but_health_needs_the_token(port: int, api: StubApi, method: str, path: str, token: str) -> None:
    body = b'{"replicas": 2}' if method == "PUT" else None
    status, answer = request(port, method, path, body, token=token)
    assert status == 401 and answer == {"error": "unauthorized: send Authorization: Bearer <token>", "problems": []}
    assert api.triggered == []


def test_health_and_readiness_are_open_and_the_rest_answers_with_the_token(port: int, api: StubApi) -> None:
    assert request(port, "GET", "/healthz", token=None) == (200, {"status": "ok"})
    assert request(port, "GET", "/readyz", token=None)[0] == 200
    assert request(port, "GET", "/stacks") == (200, {"dev": {"phase": "idle", "lastError": None}})
    status, text = request(port, "GET", "/metrics")
    assert status == 200 and "x 1.0" in text
    assert request(port, "POST", "/stacks/dev/reconcile") == (202, {"stack": "dev", "accepted": True})
    assert request(port, "POST", "/stacks/nope/reconcile")[0] == 404
    assert request(port, "PUT", "/stacks/dev/deployments/qwen/replicas", b'{"replicas": 3}')[1]["replicas"] == 3
    document = request(port, "GET", "/openapi.json")[1]
    assert set(document["paths"]) == {
        "/healthz",
        "/readyz",
        "/metrics",
        "/stacks",
        "/stacks/{stack}/reconcile",
        "/stacks/{stack}/deployments/{deployment}/replicas",
    }
    assert request(port, "GET", "/docs")[0] == 404  # no page that loads scripts from elsewhere


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b"[]",
        b'{"replicas": "3"}',
        b'{"replicas": 3.5}',
        b'{"replicas": true}',
        b'{"replicas": -1}',
        b'{"replicas": 2, "extra": 1}',
        b"[" * 500 + b"]" * 500,
        b'{"replicas": ' + b'{"a": ' * 120 + b"1" + b"}" * 121,
        b'{"replicas": 1' + b"0" * 400 + b"}",
    ],
    ids=lambda b: b[:20].decode(),
)
def test_malformed_bodies_get_a_400_with_the_field(port: int, body: bytes) -> None:
    status, answer = request(port, "PUT", "/stacks/dev/deployments/qwen/replicas", body)
    assert status == 400, answer
    assert answer["error"] == 'body must be {"replicas": <integer >= 0>}'


def test_json_nested_past_any_recursion_limit_is_a_400(api: StubApi) -> None:
    server = ControlServer(build_app(api, Redactor(), TOKEN), "127.0.0.1", 0, HttpSettings())  # 64 KiB bodies
    server.start()
    try:
        for body in (b"[" * 30000 + b"]" * 30000, b'{"replicas": ' + b'{"a":' * 10000 + b"1" + b"}" * 10001):
            status, answer = request(server.port, "PUT", "/stacks/dev/deployments/qwen/replicas", body)
            assert status == 400 and "recursion" in " ".join(answer["problems"]).lower(), answer
    finally:
        server.stop()


def test_bodies_and_headers_are_bounded(port: int) -> None:
    assert request(port, "PUT", "/stacks/dev/deployments/qwen/replicas", b" " * 2000)[0] == 413
    head = b"PUT /stacks/dev/deployments/qwen/replicas HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    head += b"Authorization: Bearer " + TOKEN.encode()
    chunked = head + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + b"44c\r\n" + b" " * 1100 + b"\r\n0\r\n\r\n"
    assert status_of(raw(port, chunked)) == 413
    for length in (b"abc", b"-1", b"1e3"):
        answer = raw(port, head + b"\r\nContent-Length: " + length + b"\r\n\r\n{}")
        assert status_of(answer) == 400, answer
    huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Filler: " + b"a" * 8000 + b"\r\n\r\n"
    assert status_of(raw(port, huge)) in (400, 431)
    assert raw(port, b"\x16\x03\x01 not http at all\r\n\r\n").startswith(b"HTTP/1.1 400")


def test_an_unexpected_error_is_a_json_500_and_one_log_line_without_traceback(
    port: int, api: StubApi, logs: io.StringIO
) -> None:
    api.boom = RuntimeError("kaboom at /very/secret/place")
    status, answer = request(port, "PUT", "/stacks/dev/deployments/qwen/replicas", b'{"replicas": 1}')
    assert status == 500 and answer == {"error": "internal error (see service log)", "problems": []}
    entries = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert [e["msg"] for e in entries if e["level"] == "error"] == ["http handler failed: RuntimeError"]
    assert "Traceback" not in logs.getvalue() and "kaboom" not in logs.getvalue()


def test_clients_that_hang_up_and_garbage_leave_only_json_in_the_log(port: int, logs: io.StringIO) -> None:
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n\r\n")
        # closed before reading the answer: the server's write meets a broken pipe
    raw(port, b"GARBAGE\r\n\r\n")
    threads = [threading.Thread(target=request, args=(port, "GET", "/stacks")) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert request(port, "GET", "/healthz")[0] == 200
    for line in logs.getvalue().splitlines():
        assert isinstance(json.loads(line), dict)
    assert "Traceback" not in logs.getvalue()


def test_metrics_on_a_listener_of_their_own_need_no_token_and_leave_the_api_port(api: StubApi) -> None:
    settings = HttpSettings(metrics_port=0)
    main = ControlServer(build_app(api, Redactor(), TOKEN, with_metrics=False), "127.0.0.1", 0, settings)
    scrape = ControlServer(metrics_app(api), "127.0.0.1", 0, settings, name="metrics")
    main.start()
    scrape.start()
    try:
        assert request(scrape.port, "GET", "/metrics", token=None)[0] == 200
        assert request(scrape.port, "GET", "/stacks", token=None)[0] == 404
        assert request(main.port, "GET", "/metrics")[0] == 404
    finally:
        main.stop()
        scrape.stop()


def test_answers_pass_the_redactor(api: StubApi) -> None:
    redactor = Redactor()
    redactor.register("hf_plantedPlantedPlanted123456")
    api.statuses = lambda: {"dev": {"lastError": "clone failed with hf_plantedPlantedPlanted123456"}}  # type: ignore[method-assign]
    server = ControlServer(build_app(api, redactor, TOKEN), "127.0.0.1", 0, HttpSettings())
    server.start()
    try:
        assert request(server.port, "GET", "/stacks")[1] == {"dev": {"lastError": "clone failed with [redacted]"}}
    finally:
        server.stop()


# --- the token ------------------------------------------------------------------------------------


def test_no_token_configured_generates_one_readable_only_by_its_user(tmp_path: Path) -> None:
    auth = resolve_auth(HttpSettings(), tmp_path / "state", env={})
    path = tmp_path / "state" / "api-token"
    assert auth.token and len(auth.token) >= 40 and path.read_text().strip() == auth.token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in auth.source and auth.token not in auth.source
    again = resolve_auth(HttpSettings(), tmp_path / "state", env={})
    assert again.token != auth.token  # a fresh one per start
    assert read_client_token(None, tmp_path / "state", env={}) == again.token


def test_the_token_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file-token\n")
    http = HttpSettings(token_file=tmp_path / "token")
    assert resolve_auth(http, tmp_path, env={"MODELPLANE_API_TOKEN": "env"}).token == "from-file-token"
    assert resolve_auth(HttpSettings(), tmp_path, env={"MODELPLANE_API_TOKEN": "env-token"}).token == "env-token"
    assert not (tmp_path / "api-token").exists()


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_an_empty_token_is_refused_not_taken_as_no_auth(tmp_path: Path, value: str) -> None:
    with pytest.raises(AuthSetupError, match="empty"):
        resolve_auth(HttpSettings(), tmp_path, env={"MODELPLANE_API_TOKEN": value})
    (tmp_path / "token").write_text(value)
    with pytest.raises(AuthSetupError, match="empty"):
        resolve_auth(HttpSettings(token_file=tmp_path / "token"), tmp_path, env={})
    with pytest.raises(AuthSetupError, match="cannot read"):
        resolve_auth(HttpSettings(token_file=tmp_path / "missing"), tmp_path, env={})


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::", "example.com"])
def test_no_auth_only_on_loopback(tmp_path: Path, host: str) -> None:
    with pytest.raises(AuthSetupError, match="only allowed on a loopback address"):
        resolve_auth(HttpSettings(host=host, insecure_no_auth=True), tmp_path, env={})
    with pytest.raises(AuthSetupError, match="loopback"):
        resolve_auth(HttpSettings(insecure_no_auth=True, metrics_host=host), tmp_path, env={})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost"])
def test_no_auth_on_loopback_when_asked(tmp_path: Path, host: str) -> None:
    assert resolve_auth(HttpSettings(host=host, insecure_no_auth=True), tmp_path, env={}).token is None


def test_client_token_prefers_the_environment(tmp_path: Path) -> None:
    (tmp_path / "api-token").write_text("generated\n")
    assert read_client_token(None, tmp_path, env={"MODELPLANE_API_TOKEN": "mine"}) == "mine"
    assert read_client_token(None, tmp_path, env={}) == "generated"
    assert read_client_token(None, tmp_path / "none", env={}) is None
