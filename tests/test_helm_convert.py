"""Merged seed chart values -> Environment: the mapping of every key, and every refusal."""

from __future__ import annotations

from typing import Any

import pytest

from constructs_lib.errors import ConfigError
from constructs_lib.helm.convert import Conversion, convert
from constructs_lib.helm.inputs import chart_defaults
from constructs_lib.helm.merge import Values, coalesce
from constructs_lib.helm.set_values import apply_arguments
from constructs_lib.model import Component, Mode
from constructs_lib.model.environment import EtcdSettings

FRONTEND_GRAPH = """\
from components.frontend import Frontend
from components.kv_router import Router
from components.processor import Processor
from components.worker import VllmWorker
from components.prefill_worker import PrefillWorker
Frontend.link(Processor).link(Router).link(VllmWorker).link(PrefillWorker)
"""
PREFILL_CONFIGS = """\
PrefillWorker:
  tensor-parallel-size: 1
  ServiceArgs:
    workers: 8
    resources:
      gpu: 1
"""
MULTINODE: dict[str, Any] = {
    "single": {"enable": False},
    "multinode": {"enable": True, "resources": {"requests": {"nvidia.com/gpu": 8},
                                                "limits": {"nvidia.com/gpu": 8}}},
    "prefillConfigs": PREFILL_CONFIGS,
    "graphs": {"frontend.py": FRONTEND_GRAPH},
}


def converted(*files: dict[str, Any], sets: tuple[str, ...] = (), release: str = "r1",
              namespace: str = "default") -> Conversion:
    user = Values()
    for index, values in enumerate(files):
        user.merge_file(values, f"f{index}.yaml")
    apply_arguments(user, list(sets))
    return convert(coalesce(chart_defaults(), user), release, namespace)


def problems(*files: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as err:
        converted(*files, **kwargs)
    return [str(p) for p in err.value.problems]


def warnings(*files: dict[str, Any], **kwargs: Any) -> list[str]:
    return [str(w) for w in converted(*files, **kwargs).warnings]


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


def test_a_full_name_cut_at_63_characters_is_refused_because_its_service_name_is_too_long() -> None:
    override = "a" * 62 + "-b" + "c" * 10  # the chart cuts at 63 and trims the trailing '-'
    assert problems({"fullnameOverride": override}) == [
        f"f0.yaml: fullnameOverride: makes the chart's full name '{'a' * 62}', so the Service "
        f"would be '{'a' * 62}-single', 69 characters; Kubernetes allows 63. Choose a shorter name"]


def test_a_long_release_joined_with_a_name_override_is_cut_at_63_characters() -> None:
    release = "r" * 53
    [message] = problems({"nameOverride": "serving-llm"}, release=release)
    assert message.startswith(f"f0.yaml: nameOverride: makes the chart's full name "
                              f"'{release}-serving-l', so the Service would be "
                              f"'{release}-serving-l-single', 70 characters")


def test_service_names_limit_release_names_below_helms_limit() -> None:
    assert converted(release="r" * 49).environment.full_name == "r" * 49 + "-dynamo"
    assert problems(release="r" * 50) == [
        f"--release: makes the chart's full name '{'r' * 50}-dynamo', so the Service would be "
        f"'{'r' * 50}-dynamo-single', 64 characters; Kubernetes allows 63. Choose a shorter name"]


def test_release_names_longer_than_helm_allows_are_refused() -> None:
    assert problems(release="r" * 54)[0] == (
        f"--release: '{'r' * 54}' is 54 characters; Helm release names are at most 53")


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
    assert env.prefill.config.render() == {"PrefillWorker": {
        "tensor-parallel-size": 1, "ServiceArgs": {"workers": 8, "resources": {"gpu": 1}}}}


def test_multinode_replicas_default_to_one_as_the_readme_says() -> None:
    env = converted(MULTINODE).environment
    assert env.frontend.replicas == 1 and env.prefill is not None and env.prefill.replicas == 1


def test_the_prefill_pool_falls_back_to_multinode_resources_as_the_seed_rendered() -> None:
    result = converted(MULTINODE)
    assert result.environment.prefill is not None
    assert result.environment.prefill.resources.gpus == 8
    assert result.warnings == []


def test_multinode_prefill_resources_size_the_prefill_pool_with_a_warning() -> None:
    result = converted(MULTINODE, {"multinode": {"prefill": {"resources": {
        "limits": {"nvidia.com/gpu": 4, "cpu": 16}}}}})
    prefill = result.environment.prefill
    assert prefill is not None and prefill.resources.gpus == 4
    assert prefill.resources.limits.cpu == 16
    assert result.environment.frontend.resources.gpus == 8
    assert [str(w) for w in result.warnings] == [
        "f1.yaml: multinode.prefill.resources: now sizes the prefill pods as documented; the "
        "seed chart ignored it and gave them multinode.resources, so these pods change"]


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


# -- resources ------------------------------------------------------------------------------

def test_resources_map_to_gpus_requests_and_limits() -> None:
    env = converted({"single": {"resources": {
        "requests": {"nvidia.com/gpu": 4, "cpu": "8", "memory": "64Gi",
                     "ephemeral-storage": "100Gi"},
        "limits": {"nvidia.com/gpu": 4, "memory": "64Gi"}}}}).environment
    resources = env.frontend.resources
    assert resources.gpus == 4
    assert resources.requests.render() == {"cpu": "8", "memory": "64Gi",
                                           "ephemeral-storage": "100Gi"}
    assert resources.limits.render() == {"memory": "64Gi"}


def test_a_gpu_limit_alone_is_enough() -> None:
    env = converted({"single": {"resources": {"requests": None,
                                              "limits": {"nvidia.com/gpu": 2}}}}).environment
    assert env.frontend.resources.gpus == 2


def test_null_resources_delete_the_charts_gpus() -> None:
    assert converted({"single": {"resources": None}}).environment.frontend.resources.gpus == 0


def test_resource_problems_name_the_resource() -> None:
    assert problems({"single": {"resources": {
        "requests": {"nvidia.com/gpu": 8, "tke.cloud.tencent.com/tke-shared-rdma": 1},
        "limits": {"nvidia.com/gpu": 4, "example.com/fpga": 1, "cpu": "lots"}}}}) == [
        "f0.yaml: single.resources.requests.tke.cloud.tencent.com/tke-shared-rdma: is added by "
        "rdma.enable (one device per pod); remove it from resources",
        "f0.yaml: single.resources.limits.example.com/fpga: is not a resource this project "
        "sets; allowed: cpu, memory, ephemeral-storage, nvidia.com/gpu",
        "f0.yaml: single.resources.limits.nvidia.com/gpu: is 4 but the request is 8; Kubernetes "
        "requires a GPU request to equal its limit",
        "f0.yaml: single.resources.limits.cpu: 'lots' is not a Kubernetes quantity such as 10, "
        "500m or 20Gi (received lots)",
    ]


def test_gpu_counts_are_whole_numbers() -> None:
    assert problems({"single": {"resources": {"limits": {"nvidia.com/gpu": "8.5"}}}}) == [
        "f0.yaml: single.resources.limits.nvidia.com/gpu: expected a whole number, got 8.5"]


# -- serve configs and graphs ---------------------------------------------------------------

def test_configs_that_are_not_yaml_are_refused_with_the_line() -> None:
    assert problems({"configs": "Frontend:\n  port: 8000\n bad: [\n"}) == [
        "f0.yaml: configs: is not valid YAML: line 3, column 2: expected <block end>, but found "
        "'<block mapping start>' (it holds Dynamo's configs.yaml)"]


def test_configs_must_be_a_mapping_of_sections() -> None:
    assert problems({"configs": "just text"}) == [
        "f0.yaml: configs: expected a configs.yaml mapping of component sections such as "
        "Frontend: and VllmWorker:, got just text"]
    assert problems({"configs": {"Frontend": {}}}) == [
        "f0.yaml: configs: expected the text of a configs.yaml (a string, e.g. written with "
        "`|`), got {'Frontend': {}}"]


def test_invalid_config_values_are_named_by_their_key_inside_configs() -> None:
    configs = chart_defaults()["configs"].replace("tensor-parallel-size: 4",
                                                  "tensor-parallel-size: -4")
    assert problems({}, {"configs": configs}) == [
        "f1.yaml: configs.VllmWorker.tensor-parallel-size: Input should be greater than 0 "
        "(received -4)"]
    prefill = "prefillConfigs=PrefillWorker: {tensor_parallel_size: 1}"
    assert problems(MULTINODE, sets=(prefill,)) == [
        "--set: prefillConfigs.PrefillWorker: unknown key 'tensor_parallel_size'; did you mean "
        "'tensor-parallel-size'? (received {'tensor_parallel_size': 1})"]


def test_the_lowercase_router_section_becomes_router_with_a_warning() -> None:
    configs = "Frontend:\n  port: 8000\nrouter:\n  min-workers: 1\nVllmWorker:\n  block-size: 64\n"
    result = converted({"configs": configs})
    assert list(result.environment.frontend.config.render()) == ["Frontend", "Router",
                                                                 "VllmWorker"]
    assert [str(w) for w in result.warnings] == [
        "f0.yaml: configs.router: converted to Router: components read their section by class "
        "name, so no component read the seed's lowercase section; the Router now uses its "
        "settings"]


def test_router_and_lowercase_router_together_are_refused() -> None:
    assert problems({"configs": "Router: {min-workers: 1}\nrouter: {min-workers: 2}\n"}) == [
        "f0.yaml: configs.router: is given as well as Router; Dynamo reads only Router. Merge "
        "the two sections"]


def test_the_graph_file_of_the_mode_gives_the_chain() -> None:
    graph = "from components.frontend import Frontend\nfrom components.worker import VllmWorker\n" \
            "Frontend.link(VllmWorker)\n"
    env = converted(sets=(f"graphs.single\\.py={graph}",)).environment
    assert env.frontend.graph == [Component.FRONTEND, Component.VLLM_WORKER]


def test_graph_problems_name_the_file() -> None:
    assert problems({"graphs": {"single.py": "Frontend.link(Processor)\n"}}) == [
        "f0.yaml: graphs.single.py: links Frontend but never imports it "
        "(from components.frontend import Frontend)"]


def test_graph_files_the_mode_does_not_run_are_dropped_with_a_warning() -> None:
    assert warnings({"graphs": {"frontend.py": FRONTEND_GRAPH}}) == [
        "f0.yaml: graphs.frontend.py: is not run in single mode (it runs graphs/single.py); "
        "dropped"]
    # The chart's own single.py, present in every multinode release, is not worth a warning.
    assert warnings(MULTINODE) == []


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


# -- dependencies ---------------------------------------------------------------------------

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
    assert problems({"etcd": {"enable": False}, "nats": {"enable": False}}) == [
        "chart defaults: etcdEndpointsOverride: is empty while etcd.enable is false, so the pods "
        "would look for an etcd that nothing deploys; give the external etcd's host:port",
        "chart defaults: natsServerOverride: is empty while nats.enable is false, so the pods "
        "would look for a NATS that nothing deploys; give the external server's nats://host:port",
    ]


def test_etcd_authentication_is_refused_and_probes_are_ignored_with_a_warning() -> None:
    assert problems(sets=("etcd.auth.rbac.create=true",)) == [
        "--set: etcd.auth.rbac.create: true is not supported: this project's etcd runs without "
        "authentication, as the seed's did (it set false); allowed: false"]
    assert warnings(sets=("etcd.livenessProbe.enabled=true",)) == [
        "--set: etcd.livenessProbe.enabled: is ignored: this project's etcd has no probes, as "
        "the seed's etcd had none (it disabled both)"]


def test_gpus_are_not_an_etcd_resource() -> None:
    assert problems({"etcd": {"resources": {"limits": {"nvidia.com/gpu": 1}}}}) == [
        "f0.yaml: etcd.resources.limits.nvidia.com/gpu: is not a resource this project sets; "
        "allowed: cpu, memory, ephemeral-storage"]


# -- plain values ---------------------------------------------------------------------------

def test_switches_must_be_booleans_not_strings() -> None:
    assert problems({"rdma": {"enable": "false"}}) == [
        "f0.yaml: rdma.enable: expected true or false, got the string 'false' (Helm treats every "
        "non-empty string as true; write true or false, unquoted)"]


def test_invalid_values_name_the_key_the_value_and_what_is_allowed() -> None:
    assert problems({"rdma": {"networkMode": "tke-direct"}, "service": {"port": 70000,
                                                                         "type": "ExternalName"},
                     "multinode": {"replicas": -1}}, MULTINODE) == [
        "f0.yaml: service.type: Input should be 'ClusterIP', 'NodePort' or 'LoadBalancer' "
        "(received ExternalName)",
        "f0.yaml: service.port: Input should be less than or equal to 65535 (received 70000)",
        "f0.yaml: rdma.networkMode: Input should be 'tke-route-eni' or 'tke-bridge' "
        "(received tke-direct)",
        "f0.yaml: multinode.replicas: Input should be greater than or equal to 0 (received -1)",
    ]


def test_replicas_must_be_whole_numbers() -> None:
    assert problems(MULTINODE, sets=("multinode.replicas=true",)) == [
        "--set: multinode.replicas: expected a whole number, got true"]


def test_image_settings() -> None:
    env = converted(sets=("image.tag=2", "imagePullSecrets[0].name=a",
                          "imagePullSecrets[1].name=b")).environment
    assert env.image.reference == "tkeai.tencentcloudcr.com/tke-ai-playbook/dynamo:2"
    assert env.image_pull_secrets == ["a", "b"]


def test_image_problems() -> None:
    secrets = ["regcred", {"name": "Bad_Name"}]
    assert problems({"image": {"tag": ""}, "imagePullSecrets": secrets}) == [
        "f0.yaml: image.tag: is empty; set the image tag (the chart would have used its "
        "placeholder appVersion 1.16.0, which is not a Dynamo image tag)",
        "f0.yaml: imagePullSecrets[0]: expected {name: <secret>}, got regcred",
        "f0.yaml: imagePullSecrets[1].name: 'Bad_Name' is not a valid DNS-1123 subdomain: at "
        "most 253 characters of lower-case letters, digits, '-' and '.' (received Bad_Name)",
    ]


def test_label_problems_name_the_label() -> None:
    [message] = problems({"podLabels": {"tier": 1}})
    assert message.startswith("f0.yaml: podLabels.tier: label values are strings; got 1")


def test_a_section_that_is_not_a_mapping_is_named_once() -> None:
    assert problems({"rdma": True}) == ["f0.yaml: rdma: expected a mapping of keys, got true"]


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
