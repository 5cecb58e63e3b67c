"""DynamoNetworkPolicy: the API to all, everything else only between the release's pods."""

from __future__ import annotations

import pytest

from constructs_lib import DynamoNetworkPolicy, DynamoNetworkPolicyProps
from tests.support.charts import find, synthesize_with

PODS = {"app.kubernetes.io/name": "dynamo", "app.kubernetes.io/instance": "llama"}


def test_public_ports_are_open_and_the_rest_is_kept_within_the_release() -> None:
    documents = synthesize_with(lambda chart: DynamoNetworkPolicy(
        chart, "np", DynamoNetworkPolicyProps(
            release="llama", name="llama-dynamo", public_ports=("serve", "metrics"))))
    policy = find(documents, "NetworkPolicy", "llama-dynamo")
    assert policy["metadata"]["namespace"] == "inference"
    assert policy["spec"] == {
        "podSelector": {"matchLabels": PODS},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"podSelector": {"matchLabels": PODS}}]},
            {"ports": [{"port": "serve", "protocol": "TCP"},
                       {"port": "metrics", "protocol": "TCP"}]},
        ],
    }


def test_without_public_ports_only_the_release_gets_in() -> None:
    documents = synthesize_with(lambda chart: DynamoNetworkPolicy(
        chart, "np", DynamoNetworkPolicyProps(release="llama", name="p")))
    assert len(find(documents, "NetworkPolicy")["spec"]["ingress"]) == 1


def test_a_release_is_required() -> None:
    with pytest.raises(ValueError, match="release"):
        DynamoNetworkPolicyProps(release="", name="p")
