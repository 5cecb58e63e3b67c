"""DependencyStack: the seed subcharts' Services and storage, external endpoints, the
hardening (NetworkPolicies, disruption budgets, anti-affinity, privileges) and etcd's mutual
TLS."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from constructs_lib import DependencyStack, DependencyStackProps
from constructs_lib.model import (
    EtcdSettings,
    EtcdTlsSettings,
    NatsSettings,
    NetworkPolicySettings,
    Resources,
)
from constructs_lib.model.naming import DependencyNames
from tests.conftest import Synthesized
from tests.support.builders import chart, matches, one, synth
from tests.support.charts import find, kinds, refusals, synthesize_with


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
    args = etcd_set["spec"]["template"]["spec"]["containers"][0]["command"]
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
    def stack(**props: Any) -> Callable[[Any], DependencyStack]:
        return lambda chart: DependencyStack(chart, "deps", DependencyStackProps(
            release="r1", namespace="ns", **props))
    [etcd] = refusals(stack(etcd=EtcdSettings(enabled=False)))
    assert etcd.endswith("/deps: etcd.enabled: false, but etcd.endpoints_override is not set: "
                         "the Dynamo pods would have no etcd; set it to the etcd to use "
                         "(host:port)")
    # NATS is refused missing only when a workload that uses the stack needs it.
    assert refusals(stack(nats=NatsSettings(enabled=False))) == []

    def with_v01_client(chart: Any) -> None:
        from constructs_lib.v0_1 import FrontendDeployment, FrontendDeploymentProps
        from tests.support.builders import SINGLE_CONFIG

        deps = stack(nats=NatsSettings(enabled=False))(chart)
        FrontendDeployment(chart, "fe", FrontendDeploymentProps(
            release="r1", full_name="r1-dynamo", config=SINGLE_CONFIG,
            resources=Resources(gpus=4), dependencies=deps))
    [nats] = refusals(with_v01_client)
    assert nats.endswith("/deps: nats.enabled: false, but nats.server_override is not set: "
                         "the Dynamo pods would have no NATS; set it to the NATS to use "
                         "(nats://host:port)")


# --- production hardening -------------------------------------------------------------

DYNAMO = {"app.kubernetes.io/instance": "llama", "app.kubernetes.io/name": "dynamo"}


def hardened_stack(**props: Any) -> list[dict[str, Any]]:
    return synthesize_with(lambda chart: DependencyStack(chart, "deps", DependencyStackProps(
        release="llama", namespace="inference", **props)))


def pod_spec(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return find(documents, "StatefulSet", name)["spec"]["template"]["spec"]


def test_a_single_member_each_has_no_disruption_budget_and_no_anti_affinity() -> None:
    documents = hardened_stack()
    assert kinds(documents) == ["ConfigMap", "NetworkPolicy", "NetworkPolicy", "Service",
                                "Service", "Service", "Service", "StatefulSet", "StatefulSet"]
    for name in ("llama-etcd", "llama-nats"):
        assert "affinity" not in pod_spec(documents, name)


def test_three_members_each_are_spread_and_drained_one_at_a_time() -> None:
    documents = hardened_stack(etcd=EtcdSettings(replicas=3), nats=NatsSettings(replicas=3))
    for name, component in (("llama-etcd", "etcd"), ("llama-nats", "nats")):
        selector = find(documents, "StatefulSet", name)["spec"]["selector"]["matchLabels"]
        budget = find(documents, "PodDisruptionBudget", name)["spec"]
        assert budget == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}
        [term] = pod_spec(documents, name)["affinity"]["podAntiAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]
        assert term == {"labelSelector": {"matchLabels": selector},
                        "topologyKey": "kubernetes.io/hostname"}
        assert selector["app.kubernetes.io/component"] == component


def test_anti_affinity_can_be_a_preference_and_the_budget_can_go() -> None:
    documents = hardened_stack(etcd=EtcdSettings(replicas=3, anti_affinity="preferred",
                                        disruption_budget=False))
    anti = pod_spec(documents, "llama-etcd")["affinity"]["podAntiAffinity"]
    assert list(anti) == ["preferredDuringSchedulingIgnoredDuringExecution"]
    assert [d for d in documents if d["kind"] == "PodDisruptionBudget"] == []


@pytest.mark.parametrize("name", ["llama-etcd", "llama-nats"])
def test_members_run_without_root_or_privileges(name: str) -> None:
    spec = pod_spec(hardened_stack(), name)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"}, "runAsNonRoot": True, "runAsUser": 65532,
        "runAsGroup": 65532, "fsGroup": 65532, "fsGroupChangePolicy": "OnRootMismatch"}
    [container] = spec["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True, "runAsNonRoot": True, "runAsUser": 65532,
        "runAsGroup": 65532}
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)


def test_probes_and_read_only_root_can_be_switched_off() -> None:
    documents = hardened_stack(etcd=EtcdSettings(probes=False, read_only_root_filesystem=False,
                                        run_as_user=1001))
    [container] = pod_spec(documents, "llama-etcd")["containers"]
    assert not {"startupProbe", "readinessProbe", "livenessProbe"} & set(container)
    assert "readOnlyRootFilesystem" not in container["securityContext"]
    assert container["securityContext"]["runAsUser"] == 1001


def test_storage_outlives_the_statefulsets() -> None:
    documents = hardened_stack()
    for name in ("llama-etcd", "llama-nats"):
        spec = find(documents, "StatefulSet", name)["spec"]
        assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain",
                                                                "whenScaled": "Retain"}
        assert spec["volumeClaimTemplates"]


def test_etcd_compacts_its_history() -> None:
    [container] = pod_spec(hardened_stack(etcd=EtcdSettings(auto_compaction_retention="30m")),
                           "llama-etcd")["containers"]
    assert "--auto-compaction-mode=periodic" in container["command"]
    assert "--auto-compaction-retention=30m" in container["command"]


def test_nats_collects_garbage_before_its_memory_limit() -> None:
    [container] = pod_spec(hardened_stack(), "llama-nats")["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["resources"]["limits"]["memory"] == "2Gi"
    assert env["GOMEMLIMIT"] == "1843MiB"


def policy(documents: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    spec = find(documents, "NetworkPolicy", name)["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    return spec["ingress"]


def test_only_the_dynamo_pods_and_the_members_reach_etcd() -> None:
    client, peers = policy(hardened_stack(), "llama-etcd")
    assert client == {"from": [{"podSelector": {"matchLabels": DYNAMO}}],
                      "ports": [{"port": 2379, "protocol": "TCP"}]}
    assert peers["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "etcd"
    assert [p["port"] for p in peers["ports"]] == [2379, 2380]


def test_nats_admits_clients_on_4222_and_members_on_their_ports() -> None:
    client, peers = policy(hardened_stack(nats=NatsSettings(replicas=3)), "llama-nats")
    assert client["ports"] == [{"port": 4222, "protocol": "TCP"}]
    assert [p["port"] for p in peers["ports"]] == [4222, 8222, 6222]


def test_the_client_labels_can_be_named() -> None:
    client, _ = policy(hardened_stack(client_pod_labels={"team": "llm"}), "llama-etcd")
    assert client["from"] == [{"podSelector": {"matchLabels": {"team": "llm"}}}]


def test_host_network_clients_leave_the_client_port_open_unless_cidrs_are_given() -> None:
    client, peers = policy(hardened_stack(clients_use_host_network=True), "llama-nats")
    assert "from" not in client and client["ports"] == [{"port": 4222, "protocol": "TCP"}]
    assert "from" in peers  # the cluster and monitoring ports stay closed to others

    cidrs = NetworkPolicySettings(allowed_cidrs=["10.0.0.0/16", "fd00::/64"])
    client, _ = policy(hardened_stack(clients_use_host_network=True, network_policy=cidrs),
                       "llama-nats")
    assert client["from"][1:] == [{"ipBlock": {"cidr": "10.0.0.0/16"}},
                                  {"ipBlock": {"cidr": "fd00::/64"}}]


def test_network_policies_can_be_switched_off() -> None:
    documents = hardened_stack(network_policy=NetworkPolicySettings(enabled=False))
    assert [d for d in documents if d["kind"] == "NetworkPolicy"] == []


def test_external_dependencies_get_no_manifests() -> None:
    documents = hardened_stack(
        etcd=EtcdSettings(enabled=False, endpoints_override="etcd.shared:2379"),
        nats=NatsSettings(enabled=False, server_override="nats://nats.shared:4222"))
    assert documents == []


@pytest.mark.parametrize("settings", [EtcdSettings, NatsSettings])
@pytest.mark.parametrize("replicas", [2, 4, 7])
def test_member_counts_without_a_clear_majority_are_refused(settings: type, replicas: int) -> None:
    with pytest.raises(ValueError, match="must be 1, 3 or 5"):
        settings(replicas=replicas)


# --- etcd with mutual TLS ---------------------------------------------------------------------

TLS = EtcdTlsSettings(server_secret="etcd-server", client_secret="etcd-client")
TLS_FLAGS = {
    "--cert-file": "/etc/etcd/tls/tls.crt", "--key-file": "/etc/etcd/tls/tls.key",
    "--trusted-ca-file": "/etc/etcd/tls/ca.crt", "--client-cert-auth": "true",
    "--peer-cert-file": "/etc/etcd/tls/tls.crt", "--peer-key-file": "/etc/etcd/tls/tls.key",
    "--peer-trusted-ca-file": "/etc/etcd/tls/ca.crt", "--peer-client-cert-auth": "true",
    "--listen-metrics-urls": "http://0.0.0.0:2381",
}


def etcd_container(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return pod_spec(documents, "llama-etcd")["containers"][0]


def flags(container: dict[str, Any]) -> dict[str, str]:
    return dict(a.partition("=")[::2] for a in container["command"][1:])


def url_hosts(container: dict[str, Any], member: int) -> list[tuple[str, str]]:
    """(scheme, host) of every URL etcd's flags name, for one member's pod."""
    pod = f"llama-etcd-{member}"
    return re.findall(r"(https?)://([^:/,]+)",
                      " ".join(container["command"]).replace("$(POD_NAME)", pod))


def test_tls_etcd_speaks_https_with_client_certificates_on_both_ports() -> None:
    deps = DependencyStack(chart(), "deps", DependencyStackProps(
        release="r1", namespace="ns", etcd=EtcdSettings(tls=TLS)))
    assert deps.etcd_tls
    assert deps.etcd_client_tls_secret == "etcd-client"
    assert deps.etcd_endpoints == "https://r1-etcd:2379"
    assert deps.etcd_url == "https://r1-etcd:2379"
    container = etcd_container(hardened_stack(etcd=EtcdSettings(tls=TLS, replicas=3)))
    assert TLS_FLAGS.items() <= flags(container).items()
    schemes = {scheme for scheme, host in url_hosts(container, 0) if host != "0.0.0.0"}
    assert schemes == {"https"}
    assert flags(container)["--listen-client-urls"] == "https://0.0.0.0:2379"
    assert flags(container)["--listen-peer-urls"] == "https://0.0.0.0:2380"
    assert flags(container)["--initial-cluster"].count("=https://") == 3


def test_every_name_etcd_is_dialled_by_is_in_the_server_certificate() -> None:
    names = DependencyNames("llama")
    certified = set(names.etcd_server_dns_names("inference", 3))
    container = etcd_container(hardened_stack(etcd=EtcdSettings(tls=TLS, replicas=3)))
    for member in range(3):
        dialled = {host for _, host in url_hosts(container, member) if host != "0.0.0.0"}
        assert dialled <= certified, dialled - certified
    deps = DependencyStack(chart(), "deps", DependencyStackProps(
        release="llama", namespace="inference", etcd=EtcdSettings(tls=TLS, replicas=3)))
    assert deps.etcd_endpoints.removeprefix("https://").partition(":")[0] in certified


def test_tls_etcd_reads_its_secret_as_the_etcd_user() -> None:
    spec = pod_spec(hardened_stack(etcd=EtcdSettings(tls=TLS)), "llama-etcd")
    [volume] = spec["volumes"]
    assert volume == {"name": "tls", "secret": {"secretName": "etcd-server",
                                                 "defaultMode": 0o440}}
    container = spec["containers"][0]
    assert {"name": "tls", "mountPath": "/etc/etcd/tls", "readOnly": True} in container[
        "volumeMounts"]
    # The kubelet hands a Secret volume's files to the fsGroup; etcd runs in that group and the
    # mode lets the group read, nobody else.
    assert spec["securityContext"]["fsGroup"] == container["securityContext"]["runAsGroup"]
    assert volume["secret"]["defaultMode"] & 0o040 and not volume["secret"]["defaultMode"] & 0o007


def test_tls_etcd_is_probed_on_its_plain_http_metrics_port() -> None:
    documents = hardened_stack(etcd=EtcdSettings(tls=TLS))
    container = etcd_container(documents)
    assert {"name": "metrics", "containerPort": 2381, "protocol": "TCP"} in container["ports"]
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[kind]["httpGet"]["port"] == "metrics"
    # Only the kubelet (always admitted from the pod's node) needs the port: no Service
    # offers it and the NetworkPolicy admits no one to it.
    for service in ("llama-etcd", "llama-etcd-headless"):
        assert 2381 not in [p["port"] for p in find(documents, "Service", service)["spec"]["ports"]]
    policy = find(documents, "NetworkPolicy", "llama-etcd")["spec"]
    assert 2381 not in [p["port"] for rule in policy["ingress"] for p in rule["ports"]]


def test_plain_etcd_has_no_tls_and_no_metrics_listener() -> None:
    deps = DependencyStack(chart(), "deps", DependencyStackProps(release="r1", namespace="ns"))
    assert not deps.etcd_tls and deps.etcd_client_tls_secret is None
    spec = pod_spec(hardened_stack(), "llama-etcd")
    container = spec["containers"][0]
    assert "volumes" not in spec
    assert not set(TLS_FLAGS) & set(flags(container))
    assert [p["name"] for p in container["ports"]] == ["client", "peer"]
    assert container["readinessProbe"]["httpGet"]["port"] == "client"


def test_tls_needs_the_stacks_own_etcd() -> None:
    for etcd, why in ((EtcdSettings(tls=TLS, enabled=False, endpoints_override="e:2379"),
                       "but etcd.enabled is false"),
                      (EtcdSettings(tls=TLS, endpoints_override="e:2379"),
                       "but etcd.endpoints_override (e:2379) sends the Dynamo pods to another")):
        [refusal] = refusals(lambda chart, etcd=etcd: DependencyStack(
            chart, "deps", DependencyStackProps(release="r1", namespace="ns", etcd=etcd)))
        assert "/deps: etcd.tls: server_secret " in refusal and why in refusal


@pytest.mark.parametrize("version", ["1.27.0", kubernetes_validate.latest_version()])
def test_every_manifest_of_a_tls_environment_is_valid_kubernetes(
        version: str, synthesized_etcd_tls: Synthesized) -> None:
    checked = 0
    for document in synthesized_etcd_tls.documents:
        if "monitoring.coreos.com" in document["apiVersion"]:
            continue
        kubernetes_validate.validate(document, version, strict=True)
        checked += 1
    assert checked >= 8
