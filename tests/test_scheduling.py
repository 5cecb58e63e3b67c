"""Update strategies, placement and disruption budgets of the Dynamo Deployments."""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib._render.scheduling import disruption_budget, place, strategy
from constructs_lib.model import (
    DisruptionBudgetSettings,
    PlacementSettings,
    Toleration,
    UpdateStrategy,
)

RELEASE = {"app.kubernetes.io/name": "dynamo", "app.kubernetes.io/instance": "llama"}
OWN = {**RELEASE, "app.kubernetes.io/dynamo-component": "multinode-prefill"}


def test_recreate_is_the_default() -> None:
    assert strategy(UpdateStrategy()) == {"type": "Recreate"}


@pytest.mark.parametrize("unavailable, expected", [(None, 1), (2, 2), ("50%", "50%")])
def test_a_rolling_update_never_needs_extra_gpus(unavailable: Any, expected: Any) -> None:
    rolling = strategy(UpdateStrategy(type="RollingUpdate", max_unavailable=unavailable))
    assert rolling == {"type": "RollingUpdate",
                       "rollingUpdate": {"maxSurge": 0, "maxUnavailable": expected}}


@pytest.mark.parametrize("bad", [0, "0%", "150%", "half"])
def test_a_rolling_update_must_replace_something(bad: Any) -> None:
    with pytest.raises(ValueError):
        UpdateStrategy(type="RollingUpdate", max_unavailable=bad)


def test_max_unavailable_belongs_to_rolling_updates() -> None:
    with pytest.raises(ValueError, match="RollingUpdate only"):
        UpdateStrategy(max_unavailable=1)


def test_a_single_replica_gets_no_disruption_budget() -> None:
    assert disruption_budget("p", "ns", OWN, OWN, 1, DisruptionBudgetSettings()) is None


def test_two_replicas_are_disrupted_one_at_a_time_unless_broken() -> None:
    budget = disruption_budget("p", "ns", OWN, OWN, 2, DisruptionBudgetSettings())
    assert budget is not None
    assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": OWN},
                              # a pod still loading or failing never holds a drain
                              "unhealthyPodEvictionPolicy": "AlwaysAllow"}
    assert disruption_budget("p", "ns", OWN, OWN, 4,
                             DisruptionBudgetSettings(enabled=False)) is None


def test_host_network_pods_of_a_release_never_share_a_node() -> None:
    spec: dict[str, Any] = {}
    place(spec, PlacementSettings(), host_network=True, release_labels=RELEASE, own_labels=OWN)
    [term] = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    # Every component of the release, not only this Deployment: they bind the same ports.
    assert term == {"labelSelector": {"matchLabels": RELEASE},
                    "topologyKey": "kubernetes.io/hostname"}
    assert "topologySpreadConstraints" not in spec


def test_other_pods_prefer_spreading_across_nodes() -> None:
    spec: dict[str, Any] = {}
    place(spec, PlacementSettings(), host_network=False, release_labels=RELEASE, own_labels=OWN)
    assert spec == {"topologySpreadConstraints": [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": OWN}}]}
    spec = {}
    place(spec, PlacementSettings(spread_across_nodes=False, host_network_anti_affinity=False),
          host_network=True, release_labels=RELEASE, own_labels=OWN)
    assert spec == {}


def test_gpu_nodes_can_be_selected_and_tolerated() -> None:
    spec: dict[str, Any] = {}
    settings = PlacementSettings.model_validate({
        "node_selector": {"node.kubernetes.io/instance-type": "HCCPNV5"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                        {"key": "dedicated", "value": "llm"}],
    })
    place(spec, settings, host_network=False, release_labels=RELEASE, own_labels=OWN)
    assert spec["nodeSelector"] == {"node.kubernetes.io/instance-type": "HCCPNV5"}
    assert spec["tolerations"] == [
        {"operator": "Exists", "key": "nvidia.com/gpu", "effect": "NoSchedule"},
        {"operator": "Equal", "key": "dedicated", "value": "llm"}]


@pytest.mark.parametrize("toleration, message", [
    ({"operator": "Exists", "value": "x"}, "takes no value"),
    ({"value": "x"}, "needs a key"),
    ({"key": "k", "value": "v", "effect": "NoSchedule", "toleration_seconds": 60},
     "NoExecute only"),
])
def test_inconsistent_tolerations_are_refused(toleration: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Toleration.model_validate(toleration)
