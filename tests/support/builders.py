"""Small typed inputs for construct tests."""

from __future__ import annotations

from typing import Any

import cdk8s
import yaml

from constructs_lib.model import ServeConfig

SINGLE_CONFIG_TEXT = """
Common:
  model: /data/m
  block-size: 64
  kv-transfer-config: '{"kv_connector":"DynamoNixlConnector"}'
Frontend:
  served_model_name: m
  endpoint: dynamo.Processor.chat/completions
  port: 8000
Processor:
  common-configs: [model, block-size]
VllmWorker:
  remote-prefill: true
  tensor-parallel-size: 2
  ServiceArgs: {workers: 1, resources: {gpu: 2}}
  common-configs: [model, block-size, kv-transfer-config]
PrefillWorker:
  ServiceArgs: {workers: 2, resources: {gpu: 1}}
  common-configs: [model, block-size, kv-transfer-config]
"""
"""A v0.1 single-mode serve config: a decode worker on 2 GPUs, two prefill workers on 1."""
SINGLE_CONFIG = ServeConfig.model_validate(yaml.safe_load(SINGLE_CONFIG_TEXT))
DECODE_CONFIG_TEXT = SINGLE_CONFIG_TEXT.split("PrefillWorker:")[0]
"""The same without its prefill workers: a multinode frontend's config."""
DECODE_CONFIG = ServeConfig.model_validate(yaml.safe_load(DECODE_CONFIG_TEXT))

PREFILL_CONFIG = ServeConfig.model_validate(yaml.safe_load("""
PrefillWorker:
  model: /data/m
  kv-transfer-config: '{"kv_connector":"DynamoNixlConnector"}'
  ServiceArgs: {workers: 4, resources: {gpu: 1}}
"""))

# What every Dynamo workload's props need, whatever its role.
WORKLOAD: dict[str, Any] = dict(release="r1", full_name="r1-dynamo", namespace="ns",
                                etcd_endpoints="r1-etcd:2379", nats_url="nats://r1-nats:4222")


def chart() -> cdk8s.Chart:
    return cdk8s.Chart(cdk8s.Testing.app(), "test", namespace="ns",
                       disable_resource_name_hashes=True)


def synth(chart: cdk8s.Chart) -> list[dict[str, Any]]:
    return list(cdk8s.Testing.synth(chart))


def one(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in documents
             if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())
