from __future__ import annotations

import pytest

from constructs_lib import DependencyStack, DependencyStackProps
from constructs_lib.model import EtcdSettings, NatsSettings
from tests.support.builders import chart, matches, one, synth


def stack(**changes):
    c = chart()
    deps = DependencyStack(c, "deps", DependencyStackProps(
        **{"release": "r1", "namespace": "ns", **changes}))
    return deps, synth(c)


def test_services_are_named_as_the_seed_subcharts_name_them() -> None:
    deps, docs = stack()
    assert deps.etcd_endpoints == "r1-etcd:2379"
    assert deps.etcd_url == "http://r1-etcd:2379"
    assert deps.nats_url == "nats://r1-nats:4222"
    etcd = one(docs, "Service", "r1-etcd")
    nats = one(docs, "Service", "r1-nats")
    assert {p["name"]: p["port"] for p in etcd["spec"]["ports"]}["client"] == 2379
    assert {p["name"]: p["port"] for p in nats["spec"]["ports"]}["nats"] == 4222


def test_services_select_their_statefulsets_pods() -> None:
    _, docs = stack()
    for name in ("r1-etcd", "r1-nats"):
        pods = one(docs, "StatefulSet", name)["spec"]["template"]["metadata"]["labels"]
        assert matches(one(docs, "Service", name)["spec"]["selector"], pods)
        assert matches(one(docs, "Service", f"{name}-headless")["spec"]["selector"], pods)
        assert one(docs, "StatefulSet", name)["spec"]["serviceName"] == f"{name}-headless"


def test_storage_sizes_and_replicas() -> None:
    etcd = EtcdSettings(replicas=3, storage_size="50Gi")
    nats = NatsSettings.model_validate({"jetstream": {"file_store_size": "100Gi"}})
    _, docs = stack(etcd=etcd, nats=nats)
    etcd_set = one(docs, "StatefulSet", "r1-etcd")
    assert etcd_set["spec"]["replicas"] == 3
    assert etcd_set["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {
        "storage": "50Gi"}
    args = etcd_set["spec"]["template"]["spec"]["containers"][0]["args"]
    cluster = next(a for a in args if a.startswith("--initial-cluster="))
    assert cluster.count("=http://") == 3
    nats_set = one(docs, "StatefulSet", "r1-nats")
    assert nats_set["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {
        "storage": "100Gi"}
    conf = one(docs, "ConfigMap", "r1-nats-config")["data"]["nats.conf"]
    assert "max_file_store: 100Gi" in conf
    assert 'store_dir: "/data"' in conf


def test_jetstream_store_is_mounted_from_its_claim() -> None:
    _, docs = stack()
    nats_set = one(docs, "StatefulSet", "r1-nats")
    claim = nats_set["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    mounts = nats_set["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": claim, "mountPath": "/data"} in mounts


def test_external_endpoints_replace_the_deployed_ones() -> None:
    deps, docs = stack(
        etcd=EtcdSettings(enabled=False, endpoints_override="etcd.shared:2379,etcd2.shared:2379"),
        nats=NatsSettings(enabled=False, server_override="nats://nats.shared:4222"))
    assert docs == []
    assert deps.etcd_endpoints == "etcd.shared:2379,etcd2.shared:2379"
    assert deps.etcd_url == "http://etcd.shared:2379,http://etcd2.shared:2379"
    assert deps.nats_url == "nats://nats.shared:4222"


def test_a_disabled_dependency_needs_an_override() -> None:
    with pytest.raises(ValueError, match="etcd is disabled but no endpoints_override"):
        DependencyStackProps(release="r1", namespace="ns", etcd=EtcdSettings(enabled=False))
    with pytest.raises(ValueError, match="nats is disabled but no server_override"):
        DependencyStackProps(release="r1", namespace="ns", nats=NatsSettings(enabled=False))
