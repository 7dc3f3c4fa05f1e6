"""Derived names: Crossplane's child_name, Modelplane's replica name, and the ≤ 63 / DNS-label guarantees."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelplane.api import names

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    ("parts", "want"),
    [
        # Golden names from Modelplane's compose-model-cache tests (computed by the Crossplane SDK).
        (("modelcache", "ml-team", "qwen"), "modelcache-ml-team-qwen-17db2"),
        (("modelcache", "ml-team", "qwen", "hydrate"), "modelcache-ml-team-qwen-hydrate-256ec"),
        (("modelcache", "ml-team", "qwen", "auth"), "modelcache-ml-team-qwen-auth-ae01b"),
    ],
)
def test_child_name_matches_crossplane(parts: tuple[str, ...], want: str) -> None:
    assert names.child_name(*parts) == want


def test_replica_name_matches_reference_example() -> None:
    # Reference §0.4 / §10 item 1: (my-model, cluster-a, 0) → my-model-5ab63.
    assert names.replica_name("my-model", "cluster-a", 0) == "my-model-5ab63"


def test_long_names_are_cut_and_keep_a_distinguishing_hash() -> None:
    long = "a" * 70
    first, second = names.child_name(long, "x"), names.child_name(long, "y")
    assert len(first) == 63
    assert first != second
    assert first.startswith("a" * 57 + "-")


def test_a_cut_never_leaves_a_dot_before_the_hash() -> None:
    name = names.replica_name("a" * 56 + ".b", "cluster-a", 0)
    assert name == "a" * 56 + "-" + names.short_hash("a" * 56 + ".b-cluster-a-0")


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("qwen-5ab63", "qwen-5ab63"),
        ("qwen2.5-72b-1a2b3", "qwen2-5-72b-1a2b3"),
        ("7b-model-1a2b3", "mp-7b-model-1a2b3"),
    ],
)
def test_dns_label_keeps_labels_and_repairs_subdomains(name: str, want: str) -> None:
    assert names.dns_label(name) == want


def test_suffixed_is_plain_when_it_fits_and_hashed_when_not() -> None:
    assert names.pool_name("my-model-5ab63") == "my-model-5ab63-pool"
    long = "m" * 57 + "-5ab63"
    assert len(names.pool_name(long)) == 63
    assert names.pool_name(long) != names.picker_name(long)


name_part = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,80}[a-z0-9])?", fullmatch=True)


@given(deployment=name_part, engine=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True))
def test_object_names_fit_their_kinds(deployment: str, engine: str) -> None:
    replica = names.replica_name(deployment, "cluster-a", 3)
    assert DNS_SUBDOMAIN.match(replica) and len(replica) <= 63
    for label in (
        names.workload_name(replica, engine),
        names.serving_service_name(replica),
        names.picker_name(replica),
        names.endpoint_backend_name(replica),
    ):
        assert DNS_LABEL.match(label) and len(label) <= 63, label
    for subdomain in (names.claim_template_name(replica, engine, "Leader"), names.pool_name(replica)):
        assert DNS_SUBDOMAIN.match(subdomain) and len(subdomain) <= 63, subdomain


def test_names_are_stable_across_runs() -> None:
    # Fixed values, so a change to the hashing shows up as a test failure rather than a silent rename.
    assert names.workload_name("my-model-5ab63", "main") == "my-model-5ab63-main-216f1"
    assert names.claim_template_name("my-model-5ab63", "main", "Standalone") == (
        "my-model-5ab63-main-standalone-devices-74688"
    )
