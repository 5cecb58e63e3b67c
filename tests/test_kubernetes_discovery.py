"""KubernetesDiscovery and `runtime.discovery: kubernetes`: the objects, the pods that use them,
no etcd, and the rules around them (tests/e2e/test_kubernetes_discovery.py runs the result
against the real 1.6.1 runtime)."""

from __future__ import annotations

from typing import Any

import cdk8s
import jsonschema
import kubernetes_validate
import pytest

from constructs_lib import (
    DecodeWorkerPool,
    DecodeWorkerPoolProps,
    DependencyStack,
    DependencyStackProps,
    FrontendDeployment,
    FrontendDeploymentProps,
    KubernetesDiscovery,
    KubernetesDiscoveryProps,
    PrefillWorkerPool,
    PrefillWorkerPoolProps,
)
from constructs_lib._render import discovery as _discovery
from constructs_lib._render import wait_for_dependencies as _wait
from constructs_lib.errors import ConfigError
from constructs_lib.model import (
    EnvironmentV1,
    EtcdSettings,
    ModelSettings,
    NatsSettings,
    RuntimeSettings,
)
from constructs_lib.model.loader import validate_environment
from constructs_lib.model.rules import warnings
from tests.conftest import Synthesized
from tests.support.builders import env_of, matches, pod_spec
from tests.support.charts import composed, find, refusals, synthesize_with

KUBERNETES = RuntimeSettings(discovery="kubernetes")
MODEL = ModelSettings(path="/data/m", served_name="m")
COMMON: dict[str, Any] = dict(release="r1", full_name="r1-dynamo", runtime=KUBERNETES)
DOWNWARD_API = {"POD_NAME": "metadata.name", "POD_UID": "metadata.uid",
                "POD_NAMESPACE": "metadata.namespace"}
ENVIRONMENT: dict[str, Any] = {
    "release": "kd", "namespace": "inference", "dynamo": "1.x",
    "model": {"path": "/data/m", "served_name": "m"}, "decode": {}, "rdma": {"enabled": False},
    "runtime": {"discovery": "kubernetes"}}


def discovery(chart: cdk8s.Chart, **props: Any) -> KubernetesDiscovery:
    return KubernetesDiscovery(chart, "discovery", KubernetesDiscoveryProps(
        **{"release": "r1", "full_name": "r1-dynamo", **props}))


def disaggregated(chart: cdk8s.Chart, **common: Any) -> None:
    """A frontend, a decode and a prefill pool found through `discovery` of the chart."""
    found = common.pop("kubernetes_discovery", None) or discovery(chart)
    props = {**COMMON, "kubernetes_discovery": found, **common}
    FrontendDeployment(chart, "frontend", FrontendDeploymentProps(**props,
                                                                  served_model_name="m"))
    DecodeWorkerPool(chart, "decode", DecodeWorkerPoolProps(**props, model=MODEL))
    PrefillWorkerPool(chart, "prefill", PrefillWorkerPoolProps(**props, model=MODEL))


def deployments(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["labels"]["app.kubernetes.io/dynamo-component"]: d
            for d in documents if d["kind"] == "Deployment"}


def environment(**changes: Any) -> EnvironmentV1:
    found = validate_environment({**ENVIRONMENT, **changes}, "env.yaml")
    assert isinstance(found, EnvironmentV1)
    return found


def test_the_objects_are_named_after_the_release_and_hold_exactly_the_runtimes_calls() -> None:
    documents = synthesize_with(discovery)
    assert sorted((d["kind"], d["metadata"]["name"], d["metadata"]["namespace"])
                  for d in documents) == [(kind, "r1-dynamo-discovery", "inference") for kind in
                                          ("Role", "RoleBinding", "Service", "ServiceAccount")]
    assert find(documents, "ServiceAccount")["automountServiceAccountToken"] is True
    assert find(documents, "Role")["rules"] == [
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
         "verbs": ["list", "watch"]},
        {"apiGroups": ["nvidia.com"], "resources": ["dynamoworkermetadatas"],
         "verbs": ["create", "list", "patch", "watch"]}]
    binding = find(documents, "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "r1-dynamo-discovery"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "r1-dynamo-discovery",
                                    "namespace": "inference"}]


def test_the_service_is_headless_and_labels_its_endpoint_slices_for_the_runtime() -> None:
    service = find(synthesize_with(lambda c: discovery(c, worker_port=9191)), "Service")
    assert service["spec"]["clusterIP"] == "None"
    # EndpointSlices copy their Service's labels; the runtime selects them by this one.
    assert service["metadata"]["labels"][_discovery.DISCOVERY_LABEL] == "true"
    assert service["spec"]["selector"] == {
        "app.kubernetes.io/name": "dynamo", "app.kubernetes.io/instance": "r1",
        _discovery.DISCOVERY_LABEL: "true"}
    assert service["spec"]["ports"] == [{"name": "system", "port": 9191,
                                         "targetPort": "system", "protocol": "TCP"}]
    assert "publishNotReadyAddresses" not in service["spec"]


def test_the_construct_says_what_it_made() -> None:
    chart = cdk8s.Chart(cdk8s.Testing.app(), "t", namespace="inference")
    found = discovery(chart)
    assert found.node.default_child is found.service_account
    assert found.service_account_name == "r1-dynamo-discovery"
    assert found.namespace == "inference"
    assert found.custom_resource_definition is None
    assert any("dynamoworkermetadatas.nvidia.com" in need
               for need in found.cluster_prerequisites)
    # A chart without a namespace: the RoleBinding still has to name one.
    assert discovery(cdk8s.Chart(cdk8s.Testing.app(), "u")).namespace == "default"


def test_the_crd_is_opt_in_cluster_scoped_and_release_neutral() -> None:
    documents = synthesize_with(lambda c: discovery(c, install_crd=True))
    crd = find(documents, "CustomResourceDefinition")
    assert "namespace" not in crd["metadata"]
    assert crd["metadata"] == {"name": "dynamoworkermetadatas.nvidia.com",
                               "labels": {"app.kubernetes.io/managed-by": "dynamo-cdk8s"}}
    assert crd["spec"]["scope"] == "Namespaced"
    [version] = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    # What a 1.6.1 worker applies (recorded by the end-to-end test) passes the schema, a spec
    # without data does not.
    schema = version["schema"]["openAPIV3Schema"]
    jsonschema.validate({"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoWorkerMetadata",
                         "metadata": {"name": "w"}, "spec": {"data": {
                             "endpoints": {"ns/backend/generate/1": {"type": "Endpoint"}},
                             "model_cards": {}}}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"spec": {}}, schema)
    other = synthesize_with(lambda c: discovery(c, install_crd=True, release="r2",
                                                full_name="r2-dynamo"), namespace="elsewhere")
    assert find(other, "CustomResourceDefinition") == crd


@pytest.mark.parametrize("version", ["1.27.0", kubernetes_validate.latest_version()])
def test_every_object_is_valid_kubernetes(version: str) -> None:
    documents = synthesize_with(lambda c: (disaggregated(c, kubernetes_discovery=discovery(
        c, install_crd=True))))
    assert len(documents) == 9
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


def test_the_pods_run_as_the_service_account_and_know_who_they_are() -> None:
    pods = deployments(synthesize_with(disaggregated))
    assert set(pods) == {"frontend", "decode", "prefill"}
    for role, deployment in pods.items():
        spec = pod_spec(deployment)
        assert spec["serviceAccountName"] == "r1-dynamo-discovery", role
        assert spec["automountServiceAccountToken"] is True, role
        [container] = spec["containers"]
        env = env_of(container)
        assert env["DYN_DISCOVERY_BACKEND"] == "kubernetes"
        assert not {"ETCD_ENDPOINTS", "NATS_SERVER"} & set(env), role
        assert {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
                for e in container["env"] if "valueFrom" in e} == DOWNWARD_API
        # Nothing to wait for: the API server is there when a pod is.
        assert "initContainers" not in spec, role


def test_the_service_selects_the_workers_and_not_the_frontend() -> None:
    documents = synthesize_with(disaggregated)
    selector = find(documents, "Service", "r1-dynamo-discovery")["spec"]["selector"]
    labels = {role: d["spec"]["template"]["metadata"]["labels"]
              for role, d in deployments(documents).items()}
    assert matches(selector, labels["decode"]) and matches(selector, labels["prefill"])
    assert not matches(selector, labels["frontend"])


def test_with_a_plane_on_nats_the_pods_wait_for_nats_alone() -> None:
    runtime = RuntimeSettings(discovery="kubernetes", request_plane="nats")

    def build(chart: cdk8s.Chart) -> None:
        stack = DependencyStack(chart, "deps", DependencyStackProps(
            release="r1", namespace="inference", etcd=EtcdSettings(enabled=False),
            nats=NatsSettings()))
        disaggregated(chart, runtime=runtime, dependencies=stack)

    documents = synthesize_with(build)
    assert not [d for d in documents if d["metadata"]["name"].startswith("r1-etcd")]
    for role, deployment in deployments(documents).items():
        spec = pod_spec(deployment)
        [init] = spec["initContainers"]
        assert init["env"] == [{"name": "NATS_SERVER", "value": "nats://r1-nats:4222"}], role
        assert init["command"][2] == _wait.script(etcd=False, nats=True)
        assert "ETCD_ENDPOINTS" not in env_of(spec["containers"][0])


def test_props_that_contradict_the_discovery_are_refused() -> None:
    chart = cdk8s.Chart(cdk8s.Testing.app(), "t", namespace="inference")
    found = discovery(chart)
    with pytest.raises(ValueError, match=r"^kubernetes_discovery given, but runtime.discovery "
                                         r"is etcd: the pods would not use it"):
        FrontendDeploymentProps(release="r1", full_name="r1-dynamo", served_model_name="m",
                                etcd_endpoints="e:2379", kubernetes_discovery=found)
    with pytest.raises(ValueError, match=r"^etcd_endpoints given, but runtime.discovery is "
                                         r"kubernetes, which uses no etcd"):
        FrontendDeploymentProps(**COMMON, served_model_name="m", etcd_endpoints="e:2379",
                                kubernetes_discovery=found)


def _unnumbered(lines: list[str]) -> list[str]:
    """The refusals without the numbered test chart's id in the construct paths."""
    return [" ".join(part.split("/", 1)[1] if part.startswith("test") else part
                     for part in line.split(" ")) for line in lines]


def test_refusals_name_the_workload_and_say_what_is_wrong() -> None:
    def elsewhere(chart: cdk8s.Chart) -> None:
        disaggregated(chart, kubernetes_discovery=discovery(chart, namespace="other"))

    def other_release(chart: cdk8s.Chart) -> None:
        disaggregated(chart, kubernetes_discovery=discovery(chart, release="r2"))

    found = _unnumbered(refusals(elsewhere))
    assert len(found) == 3
    assert found[0] == (
        "frontend: kubernetes_discovery: discovery, whose ServiceAccount is in namespace other, "
        "but the pods run in inference: a pod runs only as a ServiceAccount of its own "
        "namespace; give the KubernetesDiscovery the pods' namespace")
    assert _unnumbered(refusals(other_release)) == [
        f"{role}: kubernetes_discovery: discovery, whose Service selects "
        "app.kubernetes.io/instance=r2, app.kubernetes.io/name=dynamo, "
        "nvidia.com/dynamo-discovery-enabled=true, but the pods of this pool are labelled "
        f"app.kubernetes.io/dynamo-component={role}, app.kubernetes.io/instance=r1, "
        "app.kubernetes.io/managed-by=dynamo-cdk8s, app.kubernetes.io/name=dynamo, "
        "nvidia.com/dynamo-discovery-enabled=true: no EndpointSlice would list them and the "
        "frontend would never route to them; give the KubernetesDiscovery this pool's release "
        "and app_name" for role in ("decode", "prefill")]


def test_a_long_release_is_refused_for_the_discovery_service() -> None:
    long = "r1-" + "x" * 51  # 54: `-frontend` makes a Service name of 63, `-discovery` 64

    def build(chart: cdk8s.Chart) -> None:
        disaggregated(chart, full_name=long,
                      kubernetes_discovery=discovery(chart, full_name=long))

    assert _unnumbered(refusals(build)) == [
        f"discovery: full_name: {long}: {long}-discovery (64 characters) cannot be a Service "
        "name: Service names are DNS-1035 labels of at most 63 lower-case letters, digits and "
        "'-', starting with a letter; shorten it"]


# -- the environment file ----------------------------------------------------------------------

def test_a_file_with_kubernetes_discovery_deploys_no_etcd(tmp_path: Any) -> None:
    env = environment()
    assert env.dependencies.etcd.enabled is False
    chart = composed(env)
    assert chart.kubernetes_discovery is not None
    documents = [dict(d) for d in cdk8s.Testing.synth(chart)]
    assert sorted(d["kind"] for d in documents) == [
        "Deployment", "Deployment", "NetworkPolicy", "Role", "RoleBinding", "Service", "Service",
        "ServiceAccount"]
    plan = chart.plan()
    assert not [p for p in plan.other_pods if "etcd" in p]
    assert plan.cluster_prerequisites[0].startswith(
        "The CustomResourceDefinition dynamoworkermetadatas.nvidia.com")


def test_a_file_can_install_the_crd() -> None:
    env = environment(runtime={"discovery": "kubernetes", "install_discovery_crd": True})
    chart = composed(env)
    assert chart.kubernetes_discovery is not None
    assert chart.kubernetes_discovery.custom_resource_definition is not None
    assert not any("CustomResourceDefinition" in need
                   for need in chart.plan().cluster_prerequisites)


@pytest.mark.parametrize("etcd, field, shown", [
    ({"enabled": True}, "enabled", "true"),
    ({"endpoints_override": "etcd.shared:2379"}, "endpoints_override", "etcd.shared:2379"),
    ({"storage_size": "1Gi"}, "storage_size", "1Gi"),
])
def test_an_etcd_in_a_file_with_kubernetes_discovery_is_refused(etcd: dict[str, Any],
                                                                field: str, shown: str) -> None:
    with pytest.raises(ConfigError) as caught:
        environment(dependencies={"etcd": etcd})
    assert [str(p) for p in caught.value.problems] == [
        f"env.yaml: dependencies.etcd.{field}: {shown}, but runtime.discovery is kubernetes: the "
        "pods find each other through the Kubernetes API and no etcd is deployed or used; "
        "remove dependencies.etcd, or set runtime.discovery: etcd"]
    # Saying there is none is fine.
    assert environment(dependencies={"etcd": {"enabled": False}}).dependencies.etcd.enabled \
        is False


def test_the_token_cannot_be_switched_off_with_kubernetes_discovery() -> None:
    with pytest.raises(ConfigError) as caught:
        environment(security={"automount_service_account_token": False})
    assert [str(p) for p in caught.value.problems] == [
        "env.yaml: security.automount_service_account_token: false, but runtime.discovery is "
        "kubernetes: the Dynamo pods call the Kubernetes API with their ServiceAccount's token, "
        "so it is mounted; remove this setting, or set runtime.discovery: etcd"]


def test_installing_the_crd_without_kubernetes_discovery_is_a_warning() -> None:
    env = environment(runtime={"install_discovery_crd": True})
    assert env.dependencies.etcd.enabled is True
    assert [str(f) for f in warnings(env)] == [
        "runtime.install_discovery_crd: true, but runtime.discovery is etcd: the CRD serves "
        "kubernetes discovery only and is not emitted; set discovery: kubernetes or remove this "
        "setting"]
    assert composed(env).kubernetes_discovery is None


def test_the_shipped_example(synthesized: dict[str, Synthesized]) -> None:
    result = synthesized["dev-kubernetes-discovery"]
    assert not [d for d in result.documents if "etcd" in d["metadata"]["name"]]
    kinds = {d["kind"] for d in result.documents}
    assert {"CustomResourceDefinition", "Role", "RoleBinding", "ServiceAccount"} <= kinds
    for deployment in result.all("Deployment"):
        spec = pod_spec(deployment)
        assert spec["serviceAccountName"] == "dynamo-dev-kd-discovery"
        assert env_of(spec["containers"][0])["DYN_DISCOVERY_BACKEND"] == "kubernetes"
