from __future__ import annotations

import pytest

from constructs_lib.decode_pool import DecodeWorkerPool, DecodeWorkerPoolProps
from constructs_lib.model import Resources, ServeConfig
from tests.support.builders import (
    SINGLE_CONFIG,
    WORKLOAD,
    chart,
    env_of,
    matches,
    one,
    pod_spec,
    synth,
)


def props(**changes) -> DecodeWorkerPoolProps:
    base = dict(WORKLOAD, config=SINGLE_CONFIG, replicas=2, resources=Resources(gpus=2),
                served_model_name="m")
    return DecodeWorkerPoolProps(**{**base, **changes})


def test_decode_workers_run_dynamo_vllm_in_decode_mode() -> None:
    c = chart()
    pool = DecodeWorkerPool(c, "decode", props())
    deployment = one(synth(c), "Deployment")
    assert deployment["metadata"]["name"] == pool.deployment_name == "r1-dynamo-decode"
    assert deployment["spec"]["replicas"] == 2
    container = pod_spec(deployment)["containers"][0]
    assert container["command"] == ["python3", "-m", "dynamo.vllm"]
    args = container["args"]
    assert args[args.index("--disaggregation-mode") + 1] == "decode"
    assert args[args.index("--model") + 1] == "/data/m"
    assert args[args.index("--served-model-name") + 1] == "m"
    assert args[args.index("--tensor-parallel-size") + 1] == "2"
    assert "--is-prefill-worker" not in args and "--remote-prefill" not in args
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert matches(deployment["spec"]["selector"]["matchLabels"],
                   deployment["spec"]["template"]["metadata"]["labels"])


def test_without_prefill_workers_the_worker_is_aggregated() -> None:
    c = chart()
    DecodeWorkerPool(c, "decode", props(disaggregated=False))
    args = pod_spec(one(synth(c), "Deployment"))["containers"][0]["args"]
    assert args[args.index("--disaggregation-mode") + 1] == "agg"
    assert "--kv-transfer-config" not in args


def test_runtime_environment_and_health_endpoints() -> None:
    c = chart()
    DecodeWorkerPool(c, "decode", props())
    container = pod_spec(one(synth(c), "Deployment"))["containers"][0]
    env = env_of(container)
    assert env["ETCD_ENDPOINTS"] == "http://r1-etcd:2379"
    assert env["NATS_SERVER"] == "nats://r1-nats:4222"
    assert env["DYN_DISCOVERY_BACKEND"] == "etcd"
    assert env["DYN_SYSTEM_PORT"] == "9090"
    assert env["DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS"] == '["generate"]'
    assert container["ports"] == [{"name": "system", "containerPort": 9090, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "system"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/live", "port": "system"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30 * 60


def test_needs_a_vllm_worker_section() -> None:
    with pytest.raises(ValueError, match="VllmWorker section"):
        props(config=ServeConfig.model_validate({"PrefillWorker": {"model": "m"}}))
