"""The etcd and NATS subchart keys this project translates."""

from __future__ import annotations

from constructs_lib.model.environment import EtcdSettings
from tests.support.helm_values import converted, problems, warnings


def test_subchart_settings_map_to_the_dependencies() -> None:
    env = converted({"etcd": {"replicaCount": 3, "persistence": {"size": "50Gi"},
                              "resources": {"requests": {"cpu": 2}, "limits": {"memory": "4Gi"}}},
                     "nats": {"config": {"jetstream": {"fileStore": {
                         "dir": "/js", "pvc": {"size": "100Gi"}}}}}}).environment
    etcd, nats = env.dependencies.etcd, env.dependencies.nats
    assert (etcd.replicas, etcd.storage_size) == (3, "50Gi")
    assert etcd.resources.requests.render() == {"cpu": 2}
    assert etcd.resources.limits.render() == {"memory": "4Gi"}
    assert (nats.jetstream.file_store_dir, nats.jetstream.file_store_size) == ("/js", "100Gi")
    assert nats.jetstream.file_store_pvc


def test_empty_etcd_resources_keep_the_subcharts_preset() -> None:
    env = converted({"etcd": {"resources": {}}}).environment
    assert env.dependencies.etcd.resources == EtcdSettings().resources


def test_jetstream_switches() -> None:
    env = converted(sets=("nats.config.jetstream.fileStore.pvc.enabled=false",)).environment
    assert not env.dependencies.nats.jetstream.file_store_pvc
    env = converted(sets=("nats.config.jetstream.enabled=false",)).environment
    assert not env.dependencies.nats.jetstream.enabled


def test_external_dependencies() -> None:
    env = converted({"etcd": {"enable": False}, "nats": {"enable": False},
                     "etcdEndpointsOverride": "etcd.shared:2379",
                     "natsServerOverride": "nats://nats.shared:4222"}).environment
    assert not env.dependencies.etcd.enabled and not env.dependencies.nats.enabled
    assert env.dependencies.etcd.endpoints_override == "etcd.shared:2379"
    assert env.dependencies.nats.server_override == "nats://nats.shared:4222"


def test_disabled_dependencies_need_an_override() -> None:
    # The model's rule, in the chart's words: the switch that was turned off, and the key to set.
    assert problems({"etcd": {"enable": False}}, {"nats": {"enable": False}}) == [
        "f0.yaml: etcd.enable: false, but etcdEndpointsOverride is not set: the Dynamo pods would "
        "have no etcd; set it to the etcd to use (host:port)",
        "f1.yaml: nats.enable: false, but natsServerOverride is not set: the Dynamo pods would "
        "have no NATS; set it to the NATS to use (nats://host:port)",
    ]
    assert problems({"etcd": {"enable": False}, "etcdEndpointsOverride": ""}) == [
        "f0.yaml: etcd.enable: false, but etcdEndpointsOverride is not set: the Dynamo pods would "
        "have no etcd; set it to the etcd to use (host:port)"]


def test_etcd_authentication_is_refused_and_probes_are_ignored_with_a_warning() -> None:
    assert problems(sets=("etcd.auth.rbac.create=true",)) == [
        "--set: etcd.auth.rbac.create: true is not supported: this project's etcd has no password "
        "authentication, as the seed's had none (it set false); allowed: false (client "
        "certificates: dependencies.etcd.tls, with Dynamo 1.x)"]
    assert warnings(sets=("etcd.livenessProbe.enabled=true",)) == [
        "--set: etcd.livenessProbe.enabled: is ignored: this project's etcd always has startup, "
        "readiness and liveness probes (dependencies.etcd.probes turns them off)"]


def test_gpus_are_not_an_etcd_resource() -> None:
    assert problems({"etcd": {"resources": {"limits": {"nvidia.com/gpu": 1}}}}) == [
        "f0.yaml: etcd.resources.limits.nvidia.com/gpu: is not a resource this project sets; "
        "allowed: cpu, memory, ephemeral-storage"]
