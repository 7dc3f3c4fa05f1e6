"""Why a deployment's replicas stay unplaced, in one line: the first cause that rules out every eligible cluster.

Asked once per deployment shape after fill, against the final ledger (the one the plan's pool table shows): the
first engine no pool of any eligible cluster matches (and the first selector that fails on every device), else the
first engine no matching pool has room for (need and have), else the full reason on the first cluster where the
first engine fits (the engines fit apart but not together).
"""

from __future__ import annotations

from collections.abc import Sequence

from modelplane.api.inference_cluster import InferenceCluster
from modelplane.api.model_deployment import Engine, ModelDeployment
from modelplane.scheduling.ledger import Demand, Ledger
from modelplane.scheduling.matching import DeviceMatcher, MemberMatch
from modelplane.scheduling.replicas import EngineFitter

_Fit = tuple[str, str, list[Demand]]  # (cluster, pool, claiming pods) of one pool an engine matches
SHOWN_CLASSES = 3


class Shortfall:
    """Explains unplaced replicas from the matcher's and fitter's cached verdicts and the final ledger."""

    def __init__(self, fitter: EngineFitter, matcher: DeviceMatcher, ledger: Ledger, *, packing: bool) -> None:
        self.fitter = fitter
        self.matcher = matcher
        self.ledger = ledger
        self.packing = packing

    def reason(self, deployment: ModelDeployment, eligible: Sequence[InferenceCluster]) -> str:
        fits: list[tuple[Engine, list[_Fit]]] = []
        for engine in deployment.engines:
            found = self._fits(engine, eligible)
            if not found:
                return _engine_prefix(deployment, engine) + self._device_miss(engine, eligible)
            fits.append((engine, found))
        for engine, found in fits:
            if not any(self.ledger.trial().take(cluster, pool, pods) for cluster, pool, pods in found):
                return _engine_prefix(deployment, engine) + self._no_room(found)
        # Each engine has room somewhere, not all together: the full reason on the first cluster the first fits.
        first = fits[0][1][0][0]
        cluster = next(cluster for cluster in eligible if cluster.name == first)
        engines, why = self.fitter.place(deployment, cluster, self.ledger.trial())
        if engines is None:
            return f"{first}: {why}"
        return f"none of {len(eligible)} eligible cluster(s) has a pool that fits and has room"

    def _fits(self, engine: Engine, eligible: Sequence[InferenceCluster]) -> list[_Fit]:
        """Every pool of the eligible clusters the engine matches, capacity aside."""
        found: list[_Fit] = []
        for cluster in eligible:
            profile = self.fitter.profile(engine, cluster)
            if isinstance(profile, str):
                continue
            for pool, (miss, pods, _) in zip(cluster.spec.node_pools, profile, strict=True):
                if not miss:
                    found.append((cluster.name, pool.name, pods))
        return found

    def _device_miss(self, engine: Engine, eligible: Sequence[InferenceCluster]) -> str:
        """The first member that matches no class of the eligible pools, said once for all classes."""
        classes = list(dict.fromkeys(pool.class_name for cluster in eligible for pool in cluster.spec.node_pools))
        for index, member in enumerate(engine.members):
            matches = [self.matcher.match(member, name) for name in classes]
            if classes and not any(match.ok for match in matches):
                prefix = f"member {index} ({member.role}): " if len(engine.members) > 1 else ""
                return prefix + _across(classes, matches)
        profile = self.fitter.profile(engine, eligible[0])
        if isinstance(profile, str):
            return profile
        pools = eligible[0].spec.node_pools
        return "; ".join(f"pool {pool.name}: {miss}" for pool, (miss, _, _) in zip(pools, profile, strict=True))

    def _no_room(self, found: list[_Fit]) -> str:
        """Need and have on the matching pool with the most free nodes (the first such on a tie)."""
        free = [self.ledger.trial().free(cluster, pool) for cluster, pool, _ in found]
        best = max(range(len(found)), key=lambda index: (free[index], -index))
        cluster, pool, pods = found[best]
        where = f"{cluster}/{pool}" + (f", the most of {len(found)} matching pools" if len(found) > 1 else "")
        if self.packing:
            return f"no room for {len(pods)} pod(s): {free[best]} idle node(s), the rest too full ({where})"
        return f"no free nodes: need {len(pods)}, have {free[best]} ({where})"


def _engine_prefix(deployment: ModelDeployment, engine: Engine) -> str:
    return f"engine {engine.name}: " if len(deployment.engines) > 1 else ""


def _across(classes: Sequence[str], matches: Sequence[MemberMatch]) -> str:
    """One member's misses over several classes: said once when every class gives the same one."""
    summaries = [match.summary or match.reason for match in matches]
    if len(set(summaries)) == 1:
        (summary,) = set(summaries)
        return f"{summary} of every class" if summary.endswith("for every device") else summary
    pairs = list(zip(classes, summaries, strict=True))
    text = "; ".join(f"class {name}: {summary}" for name, summary in pairs[:SHOWN_CLASSES])
    more = len(pairs) - SHOWN_CLASSES
    return f"{text}; and {more} more class(es)" if more > 0 else text
