"""DynamoChart passes every production setting of an environment file to its constructs."""

from __future__ import annotations

from pathlib import Path

import yaml

from constructs_lib.model import Environment
from tests.conftest import ENVIRONMENTS, synth_environment


def test_environment_settings_reach_the_manifests(tmp_path: Path) -> None:
    data = yaml.safe_load((ENVIRONMENTS / "multi-node.yaml").read_text())
    data.update(
        debug=True,
        shared_memory={"size": "15Gi"},
        placement={"node_selector": {"gpu": "h20"}},
        security={"seccomp_profile": "Unconfined"},
        dependency_wait={"timeout_seconds": 120},
        network_policy={"allowed_cidrs": ["10.0.0.0/16"]},
        resource_defaults={"cpu_request_per_gpu": 2},
    )
    data["rdma"]["nccl_ib_gid_index"] = 5
    data["prefill"]["update_strategy"] = {"type": "RollingUpdate"}
    data["prefill"]["probes"] = {"startup_timeout_seconds": 7200}
    data["frontend"]["probes"] = {"startup_check": "models"}
    data["dependencies"]["etcd"]["replicas"] = 3
    result = synth_environment(Environment.model_validate(data), tmp_path)

    frontend, prefill = (result.find("Deployment", f"deepseek-r1-llama-70b-dynamo-multinode-{c}")
                         for c in ("frontend", "prefill"))
    for deployment in (frontend, prefill):
        spec = deployment["spec"]["template"]["spec"]
        main = spec["containers"][0]
        env = {e["name"]: e.get("value") for e in main["env"]}
        assert env["DYN_LOG"] == "debug" and env["NCCL_IB_GID_INDEX"] == "5"
        assert spec["nodeSelector"] == {"gpu": "h20"}
        assert spec["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
        assert spec["initContainers"][0]["command"][-1] == "120"
        assert main["resources"]["requests"]["cpu"] == 16
        [dshm] = [v for v in spec["volumes"] if v["name"] == "dshm"]
        assert dshm["emptyDir"]["sizeLimit"] == "15Gi"
    assert prefill["spec"]["strategy"]["type"] == "RollingUpdate"
    assert frontend["spec"]["strategy"]["type"] == "Recreate"
    startup = prefill["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == 7200
    frontend_startup = frontend["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    assert frontend_startup["exec"]["command"][3] == "models-listed"
    # host-network clients: admitted by the nodes' CIDR, not left open
    client_rule = result.find("NetworkPolicy", "deepseek-r1-llama-70b-nats")["spec"]["ingress"][0]
    assert {"ipBlock": {"cidr": "10.0.0.0/16"}} in client_rule["from"]
    assert result.find("PodDisruptionBudget", "deepseek-r1-llama-70b-etcd")
