"""Every derived name, in one place, so the same inputs always give the same Kubernetes names."""

from __future__ import annotations

import hashlib


def short_hash(text: str, length: int = 5) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def replica_name(deployment: str, cluster: str, index: int) -> str:
    """Modelplane's replica name: `<deployment cut to 57>-<5 hex of sha256("<md>-<cluster>-<index>")>`."""
    return f"{deployment[:57].rstrip('-')}-{short_hash(f'{deployment}-{cluster}-{index}')}"
