"""Redaction of registered secrets and well-known secret shapes; JSON log lines."""

from __future__ import annotations

import io
import json
import logging

import pytest

from modelplane.reconcile.logs import REDACTED, Redactor, json_handler


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer abc.DEF-123_x/y+z==", "abc.DEF-123_x/y+z=="),
        ("using hf_AbCdEfGhIjKlMnOpQrStUv123 for the download", "hf_AbCdEfGhIjKlMnOpQrStUv123"),
        ("    token: eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.e30.sig", "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9"),
        ("    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=", "LS0tLS1CRUdJTiBSU0Eg"),
        ('{"password": "hunter2hunter2"}', "hunter2hunter2"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
        ("key id AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"),
        ("PULUMI_ACCESS_TOKEN=pul-0123456789abcdef0123456789abcdef01234567", "pul-0123456789abcdef"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQ (truncated)", "MIIEvQ"),
    ],
)
def test_secret_shapes_are_redacted(text: str, leak: str) -> None:
    redacted = Redactor().redact(text)
    assert leak not in redacted and REDACTED in redacted


def test_ordinary_text_is_left_alone() -> None:
    text = "+ kubernetes:apps/v1:Deployment qwen created (tokens=5, max_token: 4096)"
    assert Redactor().redact(text) == text


def test_registered_values_including_structured_and_multiline() -> None:
    redactor = Redactor()
    redactor.register({"kubeconfig": "apiVersion: v1\nusers:\n- user: {exec: some-long-line-value}", "n": 1})
    redactor.register("x")  # too short to redact usefully: ignored
    assert redactor.redact("saw - user: {exec: some-long-line-value} and x") == f"saw {REDACTED} and x"
    assert redactor.redact("apiVersion: v1") == "apiVersion: v1"
    redactor.register('quote"d-secret')
    assert redactor.redact('{"v": "quote\\"d-secret"}') == f'{{"v": "{REDACTED}"}}'


def test_json_handler_redacts_message_args_extras_and_exceptions() -> None:
    redactor = Redactor()
    redactor.register("topsecretvalue")
    stream = io.StringIO()
    logger = logging.getLogger("test.reconcile.logs")
    logger.addHandler(json_handler(redactor, stream))
    logger.propagate = False
    try:
        try:
            raise RuntimeError("failed with topsecretvalue")
        except RuntimeError:
            logger.exception("run %s: %s", "dev", "topsecretvalue", extra={"stack": "dev", "detail": "topsecretvalue"})
    finally:
        logger.handlers.clear()
        logger.propagate = True
    line = stream.getvalue()
    assert "topsecretvalue" not in line
    entry = json.loads(line)
    assert entry["msg"] == f"run dev: {REDACTED}" and entry["stack"] == "dev" and entry["detail"] == REDACTED
    assert entry["level"] == "error" and "RuntimeError" in entry["exc"]
