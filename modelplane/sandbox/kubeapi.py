"""A small JSON client for one API server, authenticated by client certificate (the sandbox's admin)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class KubeApiError(Exception):
    """A request the API server answered with an error status, or could not be made."""


@dataclass(frozen=True)
class KubeApi:
    server: str  # https://127.0.0.1:PORT
    ca_cert: Path
    client_cert: Path
    client_key: Path
    timeout: float = 5.0

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context

    def get(self, path: str) -> Any:
        """GET `path` (e.g. /api/v1/nodes) as parsed JSON."""
        request = urllib.request.Request(self.server + path, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context()) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise KubeApiError(f"GET {path}: HTTP {error.code}: {error.read()[:300]!r}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise KubeApiError(f"GET {path}: {error}") from None

    def ready(self) -> bool:
        try:
            request = urllib.request.Request(self.server + "/readyz")
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context()) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def items(self, path: str) -> list[dict[str, Any]]:
        return list(self.get(path).get("items", []))


def healthy(url: str, timeout: float = 2.0) -> bool:
    """An unauthenticated /healthz (controller-manager, scheduler: self-signed serving certificates; etcd: http)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
