"""Merged seed chart values -> Environment: names, modes, metrics, and layering."""

from __future__ import annotations

import pytest
import yaml

from constructs_lib.model import Component, Mode
from constructs_lib.model.environment import EtcdSettings
from constructs_lib.tools.helm.inputs import chart_defaults
from tests.support.helm_values import MULTINODE, PREFILL_CONFIGS, converted, problems, warnings

# -- the chart's defaults -------------------------------------------------------------------

def test_the_charts_defaults_are_the_single_node_example() -> None:
    result = converted()
    env = result.environment
    assert result.warnings == []
    assert env.mode is Mode.SINGLE and env.prefill is None
    assert env.frontend.resources.gpus == 8
    assert env.frontend.graph == list(Component)
    assert env.rdma.enabled and env.rdma.host_network and env.rdma.network_mode == "tke-route-eni"
    assert env.model_volume.claim_name == "ai-model" and env.model_volume.mount_path == "/data"
    assert env.dependencies.etcd.storage_size == "20Gi"
    assert env.dependencies.etcd.resources == EtcdSettings().resources  # the bitnami preset
    assert env.dependencies.nats.jetstream.file_store_size == "10Gi"
    assert env.frontend.config.render()["VllmWorker"]["tensor-parallel-size"] == 4


# -- names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("release, overrides, full_name, app_name", [
    ("r1", {}, "r1-dynamo", "dynamo"),
    ("dynamo-prod", {}, "dynamo-prod", "dynamo"),  # the release already holds the chart name
    ("mydynamo", {}, "mydynamo", "dynamo"),  # `contains`, not a word match
    ("dynamo-canary", {"nameOverride": "llm"}, "dynamo-canary-llm", "llm"),
    ("llm-canary", {"nameOverride": "llm"}, "llm-canary", "llm"),
    ("r1", {"fullnameOverride": "serving"}, "serving", "dynamo"),
    ("r1", {"nameOverride": "llm", "fullnameOverride": "serving"}, "serving", "llm"),
])
def test_names_follow_the_chart(release: str, overrides: dict[str, str], full_name: str,
                                app_name: str) -> None:
    env = converted(overrides, release=release).environment
    assert (env.full_name, env.name) == (full_name, app_name)


_SERVICE_NAMES = ("Service names are DNS-1035 labels of at most 63 lower-case letters, "
                  "digits and '-', starting with a letter")
_STATEFULSET_NAMES = ("StatefulSet names are DNS-1123 labels of at most 52 characters (their "
                      "pods' controller-revision-hash label appends 11 more)")
# etcd and NATS elsewhere: their names, which follow the release alone, are then not made.
EXTERNAL_DEPENDENCIES = {"etcd": {"enable": False}, "nats": {"enable": False},
                         "etcdEndpointsOverride": "etcd.shared:2379",
                         "natsServerOverride": "nats://nats.shared:4222"}


def test_a_full_name_cut_at_63_characters_is_refused_because_its_service_name_is_too_long() -> None:
    override = "a" * 62 + "-b" + "c" * 10  # the chart cuts at 63 and trims the trailing '-'
    assert problems({"fullnameOverride": override}) == [
        f"f0.yaml: fullnameOverride: {override}: {'a' * 62}-single (69 characters) cannot be a "
        f"Service name: {_SERVICE_NAMES}; shorten it"]


def test_a_name_override_that_makes_the_service_name_too_long_is_named() -> None:
    name_override = "l" * 60
    assert problems({"nameOverride": name_override}, release="r1") == [
        f"f0.yaml: nameOverride: {name_override}, joined to --release r1 as the chart's full name "
        f"r1-{name_override}: r1-{name_override}-single (70 characters) cannot be a Service name: "
        f"{_SERVICE_NAMES}; shorten it or set fullnameOverride"]


def test_a_long_release_joined_with_a_name_override_is_cut_at_63_characters() -> None:
    release = "r" * 53
    assert problems(EXTERNAL_DEPENDENCIES, {"nameOverride": "serving-llm"}, release=release) == [
        f"f1.yaml: nameOverride: serving-llm, joined to --release {release} as the chart's full "
        f"name {release}-serving-l (Helm cut it at 63 characters): {release}-serving-l-single "
        f"(70 characters) cannot be a Service name: {_SERVICE_NAMES}; shorten it or set "
        "fullnameOverride"]


def test_a_release_too_long_for_etcd_and_nats_is_named_even_with_a_name_override() -> None:
    # Only a shorter release shortens etcd's and NATS's names, so the line is the release's.
    release = "r" * 53
    assert problems({"nameOverride": "serving-llm"}, release=release) == [
        f"--release: {release}: {release}-serving-l-single (70 characters), "
        f"{release}-etcd-headless (67 characters), {release}-nats-headless (67 characters) "
        "cannot be Service names: "
        f"{_SERVICE_NAMES}; {release}-etcd (58 characters), {release}-nats (58 characters) cannot "
        f"be StatefulSet names: {_STATEFULSET_NAMES}; shorten it"]


def test_etcd_and_nats_names_limit_release_names_below_helms_limit() -> None:
    assert converted(release="r" * 47).environment.full_name == "r" * 47 + "-dynamo"
    release = "r" * 48
    assert problems(release=release) == [
        f"--release: {release}: {release}-etcd (53 characters), {release}-nats (53 characters) "
        f"cannot be StatefulSet names: {_STATEFULSET_NAMES}; shorten it"]


def test_without_etcd_and_nats_the_service_name_limits_the_release() -> None:
    env = converted(EXTERNAL_DEPENDENCIES, release="r" * 49).environment
    assert env.names.frontend_service == "r" * 49 + "-dynamo-single"
    release = "r" * 50
    assert problems(EXTERNAL_DEPENDENCIES, release=release) == [
        f"--release: {release}: {release}-dynamo-single (64 characters) cannot be a Service name: "
        f"{_SERVICE_NAMES}; shorten it or set fullnameOverride"]


def test_release_names_longer_than_helm_allows_are_refused() -> None:
    # Every generated name would be valid (the release holds the chart's name and so is the
    # full name; etcd and NATS are elsewhere), but no Helm release of this name can exist.
    release = "dynamo" + "r" * 48
    assert problems(EXTERNAL_DEPENDENCIES, release=release) == [
        f"--release: '{release}' is 54 characters; Helm release names are at most 53"]


def test_release_and_namespace_must_be_dns_labels() -> None:
    assert [p.split(":")[0] for p in problems(release="R1", namespace="Prod_1")] == [
        "--release", "--namespace"]


# -- modes ----------------------------------------------------------------------------------

def test_both_modes_enabled_is_refused() -> None:
    assert problems(sets=("multinode.enable=true",)) == [
        "--set: multinode.enable: single.enable and multinode.enable are both true; the seed "
        "would start both Deployments on the same GPUs and behind two Services. Set one of them "
        "to false"]


def test_no_mode_enabled_is_refused() -> None:
    assert problems({"single": {"enable": False}}) == [
        "f0.yaml: single.enable: neither single.enable nor multinode.enable is true, so nothing "
        "would serve the model (the seed would deploy only etcd and NATS). Set one of them to "
        "true"]


def test_multinode_takes_the_frontend_and_prefill_settings_apart() -> None:
    env = converted(MULTINODE, {"multinode": {
        "replicas": 2, "labels": {"team": "llm"}, "annotations": {"a": "b"},
        "prefill": {"replicas": 3}}}).environment
    assert env.mode is Mode.MULTINODE
    assert env.frontend.replicas == 2 and env.prefill is not None and env.prefill.replicas == 3
    assert env.frontend.labels == env.prefill.labels == {"team": "llm"}
    assert env.frontend.annotations == env.prefill.annotations == {"a": "b"}
    assert env.prefill.config.render() == yaml.safe_load(PREFILL_CONFIGS)
    assert env.frontend.config.render() == yaml.safe_load(chart_defaults()["configs"])


def test_multinode_replicas_default_to_one_as_the_readme_says() -> None:
    env = converted(MULTINODE).environment
    assert env.frontend.replicas == 1 and env.prefill is not None and env.prefill.replicas == 1


def test_the_prefill_pool_falls_back_to_multinode_resources_as_the_seed_rendered() -> None:
    result = converted(MULTINODE)
    assert result.environment.prefill is not None
    assert result.environment.prefill.resources.gpus == 8
    assert result.warnings == []


def test_multinode_prefill_resources_size_the_prefill_pool_with_a_warning() -> None:
    half = PREFILL_CONFIGS.replace("workers: 8", "workers: 4")
    result = converted(MULTINODE, {"prefillConfigs": half, "multinode": {"prefill": {"resources": {
        "limits": {"nvidia.com/gpu": 4, "cpu": 16}}}}})
    prefill = result.environment.prefill
    assert prefill is not None and prefill.resources.gpus == 4
    assert prefill.resources.limits.cpu == 16
    assert result.environment.frontend.resources.gpus == 8
    assert [str(w) for w in result.warnings] == [
        "f1.yaml: multinode.prefill.resources: now sizes the prefill pods as documented; the "
        "seed chart ignored it and gave them multinode.resources, so these pods change"]


def test_prefill_workers_that_disagree_with_the_decode_worker_are_named_by_the_charts_keys(
        ) -> None:
    other = PREFILL_CONFIGS.replace("block-size: 64", "block-size: 128")
    assert problems(MULTINODE, {"prefillConfigs": other}) == [
        "f1.yaml: prefillConfigs.PrefillWorker.block-size: 128, but the decode worker's "
        "(configs.Common.block-size) is 64; KV cache moves block by block, so both sides must cut "
        "it into blocks of the same size"]


def test_a_prefill_pool_whose_gpus_do_not_add_up_is_refused() -> None:
    assert problems(MULTINODE, {"multinode": {"prefill": {"resources": {
        "limits": {"nvidia.com/gpu": 4}}}}}) == [
        "f1.yaml: multinode.prefill.resources.limits.nvidia.com/gpu: 4 nvidia.com/gpu, but the "
        "components of the prefill pod ask for 8: PrefillWorker 8 x 1 (ServiceArgs workers x "
        "resources.gpu); set it to 8, or change ServiceArgs"]


def test_multinode_without_prefill_configs_is_refused() -> None:
    assert problems({**MULTINODE, "prefillConfigs": ""}) == [
        "f0.yaml: prefillConfigs: is empty, but the prefill Deployment runs `dynamo serve -f` "
        "with it; it must hold the Dynamo configs.yaml"]


def test_multinode_needs_the_frontend_graph() -> None:
    assert problems({**MULTINODE, "graphs": None}) == [
        "f0.yaml: graphs: has no 'frontend.py', which the multinode Deployment runs (`dynamo "
        "serve graphs.frontend:Frontend`); it has: nothing"]


def test_prefill_configs_in_single_mode_are_ignored_with_a_warning() -> None:
    assert warnings({"prefillConfigs": PREFILL_CONFIGS}) == [
        "f0.yaml: prefillConfigs: is ignored in single mode: only multinode mode runs a prefill "
        "pool"]


# -- metrics --------------------------------------------------------------------------------

def test_metrics_and_service_monitor_settings() -> None:
    env = converted({"single": {"metrics": {
        "enable": True, "port": 9100,
        "serviceMonitor": {"enable": True, "namespace": "monitoring", "interval": "30s",
                           "honorLabels": True, "additionalLabels": {"prometheus": "main"},
                           "relabelings": [{"action": "keep"}]}}}}).environment
    metrics = env.frontend.metrics
    assert metrics.enabled and metrics.port == 9100
    assert metrics.image is None  # the chart's metrics image is the Dynamo image
    monitor = metrics.service_monitor
    assert (monitor.enabled, monitor.namespace, monitor.interval, monitor.honor_labels) == (
        True, "monitoring", "30s", True)
    assert monitor.additional_labels == {"prometheus": "main"}
    assert monitor.relabelings == [{"action": "keep"}]


def test_a_different_metrics_image_is_kept() -> None:
    env = converted(sets=("single.metrics.enable=true",
                          "single.metrics.image.tag=v0.1.2")).environment
    assert env.frontend.metrics.image is not None
    assert env.frontend.metrics.image.reference.endswith("dynamo:v0.1.2")


def test_an_image_needs_a_repository() -> None:
    assert problems(MULTINODE, sets=("multinode.metrics.image.tag=v2",)) == [
        "--set: multinode.metrics.image.repository: is missing while multinode.metrics.image.tag "
        "is set; give the image's repository"]


def test_only_the_prometheus_operators_service_monitor_api_is_allowed() -> None:
    api = "single.metrics.serviceMonitor.apiVersion=monitoring.coreos.com/v2"
    assert problems(sets=(api,)) == [
        "--set: single.metrics.serviceMonitor.apiVersion: monitoring.coreos.com/v2 is not "
        "supported; allowed: monitoring.coreos.com/v1"]


def test_a_service_monitor_without_metrics_is_a_warning() -> None:
    assert warnings(sets=("single.metrics.serviceMonitor.enable=true",)) == [
        "--set: single.metrics.serviceMonitor.enable: is true but single.metrics.enable is "
        "false; there is no metrics port to scrape, so no ServiceMonitor is made"]


def test_multinode_metrics_take_the_readme_defaults() -> None:
    env = converted(MULTINODE, sets=("multinode.metrics.enable=true",)).environment
    assert env.frontend.metrics.enabled and env.frontend.metrics.port == 9091
    assert env.frontend.metrics.service_monitor.namespace == "kube-system"


# -- layering -------------------------------------------------------------------------------

def test_later_files_win_and_set_wins_over_files() -> None:
    first = {"service": {"port": 81}, "imagePullSecrets": [{"name": "a"}, {"name": "b"}]}
    second = {"service": {"port": 82}}
    assert converted(first, second).environment.service.port == 82
    env = converted(first, second, sets=("service.port=83",)).environment
    assert env.service.port == 83
    assert env.service.type == "ClusterIP"  # the chart's default under both files


def test_set_edits_a_list_the_files_gave() -> None:
    env = converted({"imagePullSecrets": [{"name": "a"}, {"name": "b"}]},
                    sets=("imagePullSecrets[1].name=c",)).environment
    assert env.image_pull_secrets == ["a", "c"]


def test_a_later_file_replaces_a_list() -> None:
    env = converted({"imagePullSecrets": [{"name": "a"}, {"name": "b"}]},
                    {"imagePullSecrets": [{"name": "c"}]}).environment
    assert env.image_pull_secrets == ["c"]


def test_problems_name_the_file_that_set_the_value() -> None:
    assert problems({"rdma": {"networkMode": "x"}}, {"service": {"port": 81}}) == [
        "f0.yaml: rdma.networkMode: Input should be 'tke-route-eni' or 'tke-bridge' "
        "(received x)"]
    assert problems({"rdma": {"networkMode": "x"}}, {"rdma": {"networkMode": "y"}})[0].startswith(
        "f1.yaml: rdma.networkMode:")
