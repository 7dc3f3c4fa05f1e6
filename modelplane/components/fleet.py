"""Realise a Plan: cluster components, then each Bundle on the provider of its cluster, then the stack outputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from modelplane.api import names
from modelplane.components.cluster import InferenceClusterComponent, check_sources
from modelplane.components.model import (
    BundleComponent,
    Fields,
    InferenceGatewayComponent,
    ObjectKey,
    object_key,
    pending_backend_bundle,
)
from modelplane.components.program import (
    CLUSTER_KINDS,
    FLEET_KINDS,
    Plan,
    Settings,
    plan_cluster,
    plan_fleet,
    required_secrets,
    secret_store,
)
from modelplane.components.secrets import SecretStore
from modelplane.compose.cache import SecretSpec
from modelplane.compose.fleet import Bundle, Composition, compose_fleet
from modelplane.planning import plan_record


@dataclass
class Target:
    """A cluster objects go on: its provider (None until a fleet stack can reach it), what must exist first, and
    its workload gateway's address."""

    provider: k8s.Provider | None
    address: pulumi.Output[str | None]
    ready: list[pulumi.Resource] = field(default_factory=list)
    namespaces: list[pulumi.Resource] = field(default_factory=list)


async def main() -> None:
    """The program `__main__.py` runs (through `pulumi.run`, so it may await stack references)."""
    config = pulumi.Config("modelplane")
    settings = Settings.read(config)
    planned = await (plan_cluster(settings) if settings.role == "cluster" else plan_fleet(settings, config))
    for line in (*planned.placement.notices, *planned.composition.notices):
        pulumi.log.info(line)
    store = None
    if settings.role == "fleet":
        targets = await fleet_targets(planned, settings)
        pulumi.export("fleetConfig", planned.config)
    else:
        targets, store = own_clusters(planned, settings, config)
    Realiser(planned, targets, store, settings.versions, install_charts=settings.install_charts).run(settings.role)
    if settings.role != "cluster":
        pulumi.export("placement", plan_record(planned.fleet, planned.placement))


def own_clusters(planned: Plan, settings: Settings, config: pulumi.Config) -> tuple[dict[str, Target], SecretStore]:
    """`all`/`cluster`: provision every cluster of this stack; export kubeconfigs (secret) and gateway addresses."""
    cluster_names = sorted(planned.fleet.clusters) if settings.role == "all" else [str(settings.cluster)]
    check_sources(planned.fleet.clusters[name] for name in cluster_names)
    store = secret_store(config, required_secrets(planned.fleet, planned.composition, set(cluster_names)))
    fleet = planned.fleet
    components = {
        name: InferenceClusterComponent(
            fleet.clusters[name], fleet.classes, store, settings.versions, install_charts=settings.install_charts
        )
        for name in cluster_names
    }
    pulumi.export("kubeconfigs", {name: component.kubeconfig for name, component in components.items()})
    pulumi.export("gatewayAddresses", {name: component.gateway_address for name, component in components.items()})
    targets = {
        name: Target(component.provider, component.gateway_address, [component.serving, component.cache])
        for name, component in components.items()
    }
    return targets, store


async def fleet_targets(planned: Plan, settings: Settings) -> dict[str, Target]:
    """`fleet`: each cluster's kubeconfig and gateway address come from its cluster stack's outputs.

    A cluster stack that has not run yet has no kubeconfig: the fleet objects on it wait for the next fleet up.
    """
    gateway_clusters = {bundle.cluster for bundle in planned.composition.bundles if bundle.owner_kind in FLEET_KINDS}
    workload_clusters = {replica.cluster for item in planned.placement.deployments for replica in item.replicas}
    targets = {}
    for name in sorted(gateway_clusters | workload_clusters):
        stack = settings.cluster_stack(name)
        reference = pulumi.StackReference(f"cluster-{name}", stack)
        address = reference.get_output("gatewayAddresses").apply(lambda values, name=name: (values or {}).get(name))
        provider = await gateway_provider(reference, stack, name) if name in gateway_clusters else None
        targets[name] = Target(provider, address)
    return targets


async def gateway_provider(reference: pulumi.StackReference, stack: str, name: str) -> k8s.Provider | None:
    """A provider for a gateway cluster from its stack's secret `kubeconfigs` output; None before that stack ran."""
    details = await reference.get_output_details("kubeconfigs")
    if name not in (details.secret_value or details.value or {}):
        pulumi.log.warn(
            f"cluster stack {stack} has no kubeconfig output yet: the fleet's objects on {name} "
            "are created on the fleet's next up"
        )
        return None
    kubeconfig = reference.get_output("kubeconfigs").apply(lambda values: values[name])
    return k8s.Provider(name, kubeconfig=pulumi.Output.secret(kubeconfig))


class Realiser:
    """Creates each bundle this role owns on the provider of its cluster."""

    def __init__(
        self,
        planned: Plan,
        targets: dict[str, Target],
        store: SecretStore | None,
        versions: Mapping[str, str],
        *,
        install_charts: bool = True,
    ) -> None:
        self.planned, self.targets, self.store, self.versions = planned, targets, store, versions
        self.install_charts = install_charts
        self.gateways: dict[str, InferenceGatewayComponent] = {}
        self.replicas: dict[tuple[str, str], BundleComponent] = {}  # (ModelReplica key, cluster) -> its objects
        self._addressed: pulumi.Output[Composition] | None = None

    def run(self, role: str) -> None:
        kinds = {"all": CLUSTER_KINDS | FLEET_KINDS, "cluster": CLUSTER_KINDS, "fleet": FLEET_KINDS}[role]
        # Routes last: a ModelService's route waits for the replicas it selects (see `bundle`).
        bundles = sorted(self.planned.composition.bundles, key=lambda bundle: bundle.owner_kind == "ModelService")
        for bundle in bundles:
            target = self.targets.get(bundle.cluster)
            if bundle.owner_kind in kinds and target and target.provider:
                self.bundle(bundle, target)
        if kinds >= FLEET_KINDS:
            self.pending_backends()
            pulumi.export("endpoints", self.endpoint_urls())

    def bundle(self, bundle: Bundle, target: Target) -> None:
        assert target.provider is not None
        gateway = self.gateways.get(bundle.cluster)
        after = [*target.ready, *target.namespaces, *([gateway] if gateway else [])]
        if bundle.owner_kind == "InferenceGateway":
            owner = self.planned.fleet.gateways[bundle.owner]
            self.gateways[bundle.cluster] = InferenceGatewayComponent(
                owner, bundle, target.provider, self.versions, depends_on=after, install_charts=self.install_charts
            )
            return
        if bundle.owner_kind == "ModelService":
            # The provider awaits a Deployment until its pods are Ready, so a new replica joins the route only once
            # it can serve: a drain or a scale-up never sends requests to a replica that is still starting.
            routed = self.planned.composition.routed_replicas.get(bundle.owner, ())
            after += [self.replicas[key] for key in routed if key in self.replicas]
        created = BundleComponent(
            bundle, target.provider, depends_on=after, fields=self.route_fields(bundle), secrets=self.secrets(bundle)
        )
        if bundle.owner_kind == "Namespace":
            target.namespaces.append(created)
        elif bundle.owner_kind == "ModelReplica":
            self.replicas[(bundle.owner, bundle.cluster)] = created

    def secrets(self, bundle: Bundle) -> list[tuple[SecretSpec, pulumi.Output[str]]]:
        """A ModelCache's token Secret on its cluster, its value read from secret config."""
        if bundle.owner_kind != "ModelCache" or self.store is None:
            return []
        name = names.cache_secret_name(*bundle.owner.split("/", 1))
        store = self.store
        return [
            (spec, store.value(spec.source_name, spec.source_key))
            for spec in self.planned.composition.secrets
            if spec.cluster == bundle.cluster and spec.name == name
        ]

    def addressed(self) -> pulumi.Output[Composition]:
        """The composition redone once every known workload gateway address is in (shared by all routes)."""
        if self._addressed is None:
            planned = self.planned
            addresses = {name: target.address for name, target in sorted(self.targets.items())}
            self._addressed = pulumi.Output.all(**addresses).apply(
                lambda values: compose_fleet(
                    planned.fleet,
                    planned.placement,
                    gateway_addresses={name: value for name, value in values.items() if value},
                )
            )
        return self._addressed

    def route_fields(self, bundle: Bundle) -> Fields:
        """A ModelService's HTTPRoute spec: its backendRefs include replicas only once their gateway has an address."""
        if bundle.owner_kind != "ModelService":
            return {}
        keys = [object_key(item) for item in bundle.manifests]
        return {
            key: {"spec": self.addressed().apply(lambda found, key=key: _spec(found, bundle.cluster, key))}
            for key in keys
        }

    def pending_backends(self) -> None:
        """Replica backends on gateway clusters, their EndpointSlices filled in once the replica's gateway is known."""
        for pending in self.planned.composition.pending_backends:
            target = self.targets.get(pending.cluster)
            if not (target and target.provider):
                continue
            workload = self.targets.get(pending.workload_cluster)
            address = workload.address if workload else pulumi.Output.from_input(None)
            bundle, fields = pending_backend_bundle(pending, address)
            gateway = self.gateways.get(pending.cluster)
            after = [*target.ready, *target.namespaces, *([gateway] if gateway else [])]
            BundleComponent(bundle, target.provider, depends_on=after, fields=fields)

    def endpoint_urls(self) -> Mapping[str, pulumi.Output[str | None]]:
        """Each routed ModelService's URL on its gateway: `http://<gateway address>/<ns>/<service>`."""
        urls = {}
        for bundle in self.planned.composition.bundles:
            gateway = self.gateways.get(bundle.cluster)
            if bundle.owner_kind == "ModelService" and gateway:
                urls[bundle.owner] = gateway.address.apply(
                    lambda address, owner=bundle.owner: f"http://{address}/{owner}" if address else None
                )
        return urls


def _spec(composition: Composition, cluster: str, key: ObjectKey) -> object:
    found = composition.manifest(cluster, *key)
    assert found is not None, f"{key} vanished from the composition once addresses were known"
    return found["spec"]
