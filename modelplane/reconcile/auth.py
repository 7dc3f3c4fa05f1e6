"""The control port's bearer token: from a file, the environment, or generated into an owner-only file."""

from __future__ import annotations

import ipaddress
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelplane.reconcile.settings import HttpSettings

TOKEN_ENV = "MODELPLANE_API_TOKEN"
GENERATED_TOKEN_FILE = "api-token"


class AuthSetupError(Exception):
    """The service cannot start with this authentication setup (the message says what to change)."""


@dataclass(frozen=True)
class Auth:
    """``token`` None means no authentication (only ever on loopback, by explicit choice)."""

    token: str | None
    source: str  # where the token came from, for the start-up log line (never the token itself)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_auth(http: HttpSettings, state_dir: Path, env: Mapping[str, str] | None = None) -> Auth:
    """The token the service requires, by precedence: ``tokenFile``, ``MODELPLANE_API_TOKEN``, generated."""
    env = os.environ if env is None else env
    if http.insecure_no_auth:
        hosts = [http.host] + ([http.metrics_host] if http.metrics_host else [])
        exposed = [host for host in hosts if not is_loopback(host)]
        if exposed:
            raise AuthSetupError(
                f"--insecure-no-auth is only allowed on a loopback address, not on {', '.join(exposed)}"
            )
        return Auth(None, "none (--insecure-no-auth, loopback only)")
    if http.token_file is not None:
        return Auth(_required(_read(http.token_file), f"token file {http.token_file}"), f"file {http.token_file}")
    if TOKEN_ENV in env:
        return Auth(_required(env[TOKEN_ENV], TOKEN_ENV), f"environment {TOKEN_ENV}")
    path = state_dir / GENERATED_TOKEN_FILE
    return Auth(write_generated_token(path), f"generated into {path}")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthSetupError(f"token file {path}: cannot read: {exc.strerror}") from exc


def _required(value: str, source: str) -> str:
    token = value.strip()
    if not token:
        raise AuthSetupError(f"{source} is empty: an empty token is not 'no authentication' (see --insecure-no-auth)")
    if any(c.isspace() for c in token):
        raise AuthSetupError(f"{source}: the token must not contain whitespace")
    return token


def write_generated_token(path: Path) -> str:
    """A fresh random token in ``path``, readable by this user only (written 0600, then renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp creates it 0600
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    Path(tmp).replace(path)
    return token


def read_client_token(token_file: Path | None, state_dir: Path, env: Mapping[str, str] | None = None) -> str | None:
    """The token a client (``modelplane scale``) sends: ``MODELPLANE_API_TOKEN``, a file, or the generated one."""
    env = os.environ if env is None else env
    if env.get(TOKEN_ENV, "").strip():
        return env[TOKEN_ENV].strip()
    for path in (token_file, state_dir / GENERATED_TOKEN_FILE):
        if path is not None and path.is_file():
            try:
                return path.read_text(encoding="utf-8").strip() or None
            except OSError:
                return None
    return None
