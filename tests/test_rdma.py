"""RdmaPolicy: TKE's RDMA network, device, capability and NCCL settings on a pod template."""

from __future__ import annotations

from typing import Any

import cdk8s
import pytest

from constructs_lib import RdmaPolicy, RdmaPolicyProps
from tests.support.charts import synthesize_with


def template(*names: str) -> dict:
    return {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": n, "image": "i"} for n in names]}}


def policy(**props) -> RdmaPolicy:
    return RdmaPolicy(cdk8s.Chart(cdk8s.Testing.app(), "c"), "rdma", RdmaPolicyProps(**props))


@pytest.mark.parametrize("mode", ["tke-route-eni", "tke-bridge"])
def test_network_annotation_follows_the_mode(mode: str) -> None:
    pod = template("main")
    policy(network_mode=mode).apply(pod)
    assert pod["metadata"]["annotations"] == {
        "tke.cloud.tencent.com/networks": f"{mode},tke-rdma-ipvlan"}


def test_rdma_device_is_requested_and_limited_with_ipc_lock() -> None:
    pod = template("main")
    policy().apply(pod)
    container = pod["spec"]["containers"][0]
    assert container["resources"]["requests"]["tke.cloud.tencent.com/tke-shared-rdma"] == 1
    assert container["resources"]["limits"]["tke.cloud.tencent.com/tke-shared-rdma"] == 1
    assert container["securityContext"]["capabilities"]["add"] == ["IPC_LOCK"]


def test_host_network_comes_with_its_dns_policy() -> None:
    pod = template("main")
    policy(host_network=True).apply(pod)
    assert pod["spec"]["hostNetwork"] is True
    assert pod["spec"]["dnsPolicy"] == "ClusterFirstWithHostNet"


def test_without_host_network_the_pod_network_stays() -> None:
    pod = template("main")
    policy(host_network=False).apply(pod)
    assert "hostNetwork" not in pod["spec"]
    assert "dnsPolicy" not in pod["spec"]


def test_only_the_named_containers_get_the_device() -> None:
    pod = template("main", "sidecar")
    policy().apply(pod, containers=["sidecar"])
    main, sidecar = pod["spec"]["containers"]
    assert "resources" not in main
    assert sidecar["resources"]["limits"]["tke.cloud.tencent.com/tke-shared-rdma"] == 1


def test_applying_twice_changes_nothing_more() -> None:
    pod = template("main")
    rdma = policy()
    rdma.apply(pod)
    rdma.apply(pod)
    assert pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] == ["IPC_LOCK"]


def test_unknown_network_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="'tke-route-eni' or 'tke-bridge'"):
        RdmaPolicyProps(network_mode="tke-vpc")  # type: ignore[arg-type]


# --- production hardening -------------------------------------------------------------

TKE_LATER_CHARTS = {"NCCL_IB_GID_INDEX": "3", "NCCL_IB_HCA": "mlx5", "NCCL_SOCKET_IFNAME": "eth0",
                    "GLOO_SOCKET_IFNAME": "eth0", "VLLM_WORKER_MULTIPROC_METHOD": "spawn"}


def applied(props: RdmaPolicyProps, env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    template: dict[str, Any] = {"spec": {"containers": [
        {"name": "worker", "env": env or []}, {"name": "sidecar"}]}}
    synthesize_with(lambda chart: RdmaPolicy(chart, "rdma", props).apply(template))
    return template


def test_rdma_containers_get_the_settings_of_tke_later_charts() -> None:
    template = applied(RdmaPolicyProps())
    worker, sidecar = template["spec"]["containers"]
    assert {e["name"]: e["value"] for e in worker["env"]} == TKE_LATER_CHARTS
    assert worker["securityContext"]["capabilities"]["add"] == ["IPC_LOCK"]
    assert "env" not in sidecar and "securityContext" not in sidecar
    assert template["spec"]["hostNetwork"] is True


def test_each_setting_can_be_changed_or_left_unset() -> None:
    template = applied(RdmaPolicyProps(nccl_ib_gid_index=None, nccl_ib_hca="mlx5_bond_0",
                                       vllm_worker_multiproc_method=None))
    env = {e["name"]: e["value"] for e in template["spec"]["containers"][0]["env"]}
    assert env == {"NCCL_IB_HCA": "mlx5_bond_0", "NCCL_SOCKET_IFNAME": "eth0",
                   "GLOO_SOCKET_IFNAME": "eth0"}


def test_a_value_the_container_already_sets_wins() -> None:
    template = applied(RdmaPolicyProps(), env=[{"name": "NCCL_IB_HCA", "value": "mlx5_2"}])
    env = [e for e in template["spec"]["containers"][0]["env"] if e["name"] == "NCCL_IB_HCA"]
    assert env == [{"name": "NCCL_IB_HCA", "value": "mlx5_2"}]


@pytest.mark.parametrize("props, message", [
    ({"nccl_ib_gid_index": -1}, "at least 0"),
    ({"vllm_worker_multiproc_method": "forkserver"}, "'spawn' or 'fork'"),
])
def test_impossible_settings_are_refused(props: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RdmaPolicyProps(**props)
