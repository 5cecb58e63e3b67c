from __future__ import annotations

import cdk8s
import pytest

from constructs_lib import RdmaPolicy, RdmaPolicyProps


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
