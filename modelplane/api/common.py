"""Shared building blocks of the modelplane.ai/v1alpha1 API: the pydantic base, metadata and label rules."""

from __future__ import annotations

import re
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

API_VERSION = "modelplane.ai/v1alpha1"
RESERVED_PREFIX = "modelplane.ai/"
# Kubernetes integer types: replicas and counts are int32, DRA device attribute ints are int64.
INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_LABEL_VALUE = 63

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class ApiModel(BaseModel):
    """Base of every API object: camelCase on the wire, unknown fields rejected (a typo must never pass), and no
    coercion (`replicas: "3"` or `gpuPacking: "yes"` is an error, as the Kubernetes API server makes it)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
        strict=True,
    )


def shown(value: str) -> str:
    """`value` quoted for a message, cut to 64 characters: an input string may be as long as the limits allow."""
    return repr(value if len(value) <= 64 else f"{value[:61]}...")


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a valid Kubernetes label/annotation key, or None."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f"key {shown(key)}: prefix must be a DNS subdomain of at most 253 characters"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return f"key {shown(key)}: name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a valid Kubernetes label value, or None."""
    if value and (len(value) > MAX_LABEL_VALUE or not _LABEL_NAME.match(value)):
        return (
            f"value {shown(value)}: must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
        )
    return None


def check_labels(labels: dict[str, str], *, user: bool) -> dict[str, str]:
    """Validate label keys and values; user-supplied labels may not use the reserved prefix."""
    for key, value in labels.items():
        if user and key.startswith(RESERVED_PREFIX):
            raise ValueError(f"key {shown(key)}: the {RESERVED_PREFIX} prefix is reserved for Modelplane")
        problem = label_key_problem(key) or label_value_problem(value)
        if problem:
            raise ValueError(problem)
    return labels


def check_annotation_keys(annotations: dict[str, str]) -> dict[str, str]:
    """Annotation keys follow label-key syntax and may not use the reserved prefix; values are free text."""
    for key, value in annotations.items():
        if key.startswith(RESERVED_PREFIX):
            raise ValueError(f"key {shown(key)}: the {RESERVED_PREFIX} prefix is reserved for Modelplane")
        problem = label_key_problem(key)
        if problem:
            raise ValueError(problem)
        if len(value) > 8192:
            raise ValueError(f"annotation {shown(key)}: value longer than 8192 characters")
    return annotations


def check_dns_label(value: str) -> str:
    """A name that becomes part of Kubernetes object names (or is a Namespace) must be a DNS-1123 label."""
    if len(value) > MAX_LABEL_VALUE or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{shown(value)} must be a DNS label: at most 63 lowercase alphanumerics and '-', alphanumeric at both ends"
        )
    return value


Labels = Annotated[dict[str, str], Field(default_factory=dict)]


class ObjectMeta(ApiModel):
    """The metadata fields Modelplane reads. Cluster-scoped kinds leave `namespace` empty."""

    name: Annotated[str, Field(min_length=1, max_length=253)]
    namespace: str | None = None
    labels: Labels
    annotations: Labels

    @field_validator("name")
    @classmethod
    def _name_is_dns(cls, value: str) -> str:
        if not _DNS_SUBDOMAIN.match(value):
            raise ValueError(f"{shown(value)} must be a DNS subdomain: lowercase alphanumerics, '-' and '.'")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace_is_dns(cls, value: str | None) -> str | None:
        return check_dns_label(value) if value else value

    @field_validator("labels")
    @classmethod
    def _labels_valid(cls, value: dict[str, str]) -> dict[str, str]:
        return check_labels(value, user=False)


class LabelValueMeta(ObjectMeta):
    """Metadata of a kind whose name is also a label value on the objects Modelplane composes for it
    (`modelplane.ai/deployment`, `modelplane.ai/modelcache`): a DNS subdomain of at most 63 characters."""

    name: Annotated[str, Field(min_length=1, max_length=MAX_LABEL_VALUE)]


class DnsLabelMeta(ObjectMeta):
    """Metadata of a kind whose name is a DNS label: an InferenceCluster's name is a label value
    (`modelplane.ai/cluster`), a render directory, and part of its cloud cluster's name, which allows no dots."""

    name: Annotated[str, Field(min_length=1, max_length=MAX_LABEL_VALUE)]

    @field_validator("name")
    @classmethod
    def _name_is_label(cls, value: str) -> str:
        return check_dns_label(value)


class LabelSelector(ApiModel):
    """An exact-match label selector (matchLabels only, as in Modelplane)."""

    match_labels: Labels

    @field_validator("match_labels")
    @classmethod
    def _labels_valid(cls, value: dict[str, str]) -> dict[str, str]:
        return check_labels(value, user=False)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.match_labels.items())


class LocalRef(ApiModel):
    """A reference by name to an object in the same namespace."""

    name: Annotated[str, Field(min_length=1, max_length=253)]


SpecT = TypeVar("SpecT", bound=ApiModel)


class Resource(ApiModel, Generic[SpecT]):
    """A whole API document: apiVersion, kind, metadata, spec."""

    api_version: Literal["modelplane.ai/v1alpha1"] = API_VERSION
    kind: str
    metadata: ObjectMeta
    spec: SpecT

    @field_validator("metadata", mode="before")
    @classmethod
    def _default_namespace(cls, value: object) -> object:
        # Cluster-scoped: the API server drops a namespace, and keeping it would turn `key` into `ns/name`.
        # NamespacedResource overrides this validator (same name) to default the namespace instead.
        if isinstance(value, dict) and "namespace" in value:
            return {key: item for key, item in value.items() if key != "namespace"}
        return value

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or ""

    @property
    def key(self) -> str:
        """`namespace/name` for namespaced kinds, `name` for cluster-scoped ones."""
        return f"{self.metadata.namespace}/{self.metadata.name}" if self.metadata.namespace else self.metadata.name


DEFAULT_NAMESPACE = "default"


class NamespacedResource(Resource[SpecT], Generic[SpecT]):
    """A namespaced kind: an omitted namespace means `default`, as kubectl would apply it."""

    @field_validator("metadata", mode="before")
    @classmethod
    def _default_namespace(cls, value: object) -> object:
        if isinstance(value, dict) and not value.get("namespace"):
            return {**value, "namespace": DEFAULT_NAMESPACE}
        return value
