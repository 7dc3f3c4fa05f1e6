"""Structured JSON logs with a redaction filter, so secrets never reach the log stream."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

REDACTED = "[redacted]"

# Shapes of secrets that can show up in engine output or error text even when nobody registered them.
_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL),
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"\bhf_[A-Za-z0-9]{20,}\b"),
    re.compile(r"\bpul-[a-f0-9]{40}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    # userinfo of a URL (https://user:password@host): an autoscaler's Prometheus URL, a backend URL.
    re.compile(r"(?<=://)[^/\s:@'\"]+:[^/\s@'\"]+(?=@)"),
)

# Environment variables that always hold a credential, and name shapes that do.
_SECRET_ENV = frozenset(
    {
        "PULUMI_ACCESS_TOKEN",
        "PULUMI_CONFIG_PASSPHRASE",
        "MODELPLANE_API_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GOOGLE_CREDENTIALS",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        "ARM_CLIENT_SECRET",
        "ARM_ACCESS_KEY",
        "AZURE_CLIENT_SECRET",
        "HF_TOKEN",
        "GITHUB_TOKEN",
    }
)
_SECRET_ENV_NAME = re.compile(r"(?i)(TOKEN|SECRET|PASSWORD|PASSPHRASE|CREDENTIALS|PRIVATE_KEY|API_KEY)$")
_SECRET_ENV_FILES = ("PULUMI_CONFIG_PASSPHRASE_FILE",)
_YAML_LINE_PREFIX = re.compile(r"^(?:-\s+)?(?:[\w.-]+:\s+)?")

# key: value / key=value / "key": "value" for keys that always carry a secret (kubeconfig, AWS, generic).
_KEY_VALUE = re.compile(
    r"""(?ix)
    (?P<key>(?<![A-Za-z0-9_-])(?:token|client-key-data|password|passphrase|client-secret|secret-access-key|
        aws_secret_access_key|aws_session_token|access[_-]?token|api[_-]?key)["']?\s*[:=]\s*["']?)
    (?P<value>[^\s"',}]+)"""
)


class Redactor:
    """Replaces registered secret values and well-known secret shapes with a marker."""

    _MIN_LEN = 4  # shorter values ("1", "on") would redact ordinary text and protect nothing
    _MIN_LINE = 16

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()

    def register(self, value: Any) -> None:
        """Remember a secret value (and its lines and JSON-escaped form) for redaction.

        Structured values count leaf by leaf, also when they arrive as JSON text (a secret config object
        set with ``--secret --path`` comes back from the CLI as one JSON string).
        """
        parsed = _parsed(value)
        texts = [*_leaves(value), *(_leaves(parsed) if parsed is not value else ())]
        for text in texts:
            # Engine output is line-based, so a multi-line secret (a kubeconfig) shows up a line at a time;
            # short lines ("apiVersion: v1") are structure, not secret, and are left out.
            lines = {line.strip() for line in text.splitlines()} if "\n" in text else set()
            # A YAML line's value alone (after "- " and "key: "): an error may quote it without its key.
            lines |= {_YAML_LINE_PREFIX.sub("", line, count=1) for line in lines}
            candidates = {text, json.dumps(text)[1:-1]} | {line for line in lines if len(line) >= self._MIN_LINE}
            with self._lock:
                self._values.update(c for c in candidates if len(c) >= self._MIN_LEN)

    def register_environment(self, env: Mapping[str, str]) -> None:
        """Remember the credentials a process environment holds (and the passphrase file's content)."""
        for name, value in env.items():
            if value and (name in _SECRET_ENV or _SECRET_ENV_NAME.search(name)):
                self.register(value)
        for name in _SECRET_ENV_FILES:
            if env.get(name):
                with contextlib.suppress(OSError):  # the CLI reports an unreadable passphrase file itself
                    self.register(Path(env[name]).read_text(encoding="utf-8").strip())

    def register_url_credentials(self, url: str) -> None:
        """Remember the password (and user) of a URL's userinfo, which may show up decoded in error text."""
        parts = urlsplit(url)
        for value in (parts.password, parts.username if parts.password else None):
            if value:
                self.register(value)
                self.register(unquote(value))

    def redact_tree(self, value: Any) -> Any:
        """``value`` with every string in it redacted (for JSON answers: keeps the structure valid)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {key: self.redact_tree(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_tree(item) for item in value]
        return value

    def redact(self, text: str) -> str:
        """Return ``text`` with every known secret replaced."""
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)  # longest first: a secret may contain another
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(REDACTED, text)
        return _KEY_VALUE.sub(lambda m: m.group("key") + REDACTED, text)


def _parsed(value: Any) -> Any:
    """A JSON object or array given as text, parsed; anything else as it is."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _leaves(value: Any) -> Iterable[str]:
    """Every string/number leaf of a (possibly nested) value; secrets may be structured outputs."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


class RedactionFilter(logging.Filter):
    """Logging filter that redacts the message, string extras and exception text of every record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.redact(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, self.redactor.redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        return True


# uvicorn adds `color_message` (the message with ANSI colours): the plain `msg` says the same.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, plus any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str, sort_keys=False)


def json_handler(redactor: Redactor, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler emitting redacted JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactionFilter(redactor))
    return handler


def configure_logging(redactor: Redactor, level: str = "INFO") -> None:
    """Route all logging through one redacted JSON handler on stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(json_handler(redactor))
    root.setLevel(level.upper())
