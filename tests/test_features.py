"""The seed chart's other options (../shared/reference/features), produced by the constructs.

Each test writes the typed equivalent of a features values file and checks the output against
the render of that file with the same parity rules as the shipped examples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.model import Environment
from tests.conftest import ENVIRONMENTS, synth_environment
from tests.support import parity
from tests.support.schemas import validate_custom_resource


def environment(base: str, **changes: Any) -> Environment:
    """A shipped environment changed as a features values file changes the seed's example, in
    the namespace the features were rendered in (`default`, unless `changes` names another)."""
    data = yaml.safe_load((ENVIRONMENTS / f"{base}.yaml").read_text())
    return Environment.model_validate(_merge(data, {"namespace": "default", **changes}))


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        merged[key] = _merge(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


METRICS_WITH_MONITOR = {"metrics": {"enabled": True, "service_monitor": {"enabled": True}}}

FEATURES = {
    "single-node-metrics": ("default", environment("single-node", frontend=METRICS_WITH_MONITOR)),
    "multi-node-metrics": ("default", environment("multi-node", frontend={"metrics": {
        "enabled": True,
        "service_monitor": {"enabled": True, "additional_labels": {"prometheus": "main"}},
    }})),
    "single-node-overrides": ("default", environment(
        "single-node",
        fullname_override="r1-serving",
        image_pull_secrets=["tke-registry"],
        pod_labels={"app.team": "llm"},
        pod_annotations={"prometheus.io/scrape": "false"},
        frontend={"labels": {"gpu.class": "h20"},
                  "annotations": {"eks.tke.cloud.tencent.com/use-image-cache": "auto"}},
    )),
    "single-node-external-deps": ("default", environment("single-node", dependencies={
        "nats": {"enabled": False, "server_override": "nats://nats.shared.svc:4222"},
        "etcd": {"enabled": False, "endpoints_override": "etcd.shared.svc:2379"},
    })),
    "single-node-nameoverride": ("staging", environment(
        "single-node",
        release="dynamo-canary",
        namespace="staging",
        name_override="llm",
        service={"type": "LoadBalancer"},
        model_volume={"claim_name": "models-cfs", "mount_path": "/models"},
    )),
}


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_feature_render_is_reproduced(feature: str, shared: Path, tmp_path: Path) -> None:
    namespace, env = FEATURES[feature]
    result = synth_environment(env, tmp_path)
    reference = parity.load_render(shared / "reference" / "features" / f"{feature}.yaml")
    assert parity.differences(reference, result.documents, namespace) == []


def test_service_monitors_follow_their_crd(shared: Path, tmp_path: Path) -> None:
    result = synth_environment(FEATURES["multi-node-metrics"][1], tmp_path)
    monitors = result.all("ServiceMonitor")
    assert len(monitors) == 1
    for monitor in monitors:
        validate_custom_resource(monitor, shared / "crds")


def test_external_dependencies_are_not_deployed(tmp_path: Path) -> None:
    result = synth_environment(FEATURES["single-node-external-deps"][1], tmp_path)
    assert result.all("StatefulSet") == []
    pod = result.find("Deployment")["spec"]["template"]["spec"]
    # The init container waits for the external endpoints, not for the release's own.
    for container in (pod["containers"][0], pod["initContainers"][0]):
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert {k: env.get(k) for k in ("NATS_SERVER", "ETCD_ENDPOINTS")} == {
            "NATS_SERVER": "nats://nats.shared.svc:4222", "ETCD_ENDPOINTS": "etcd.shared.svc:2379"}
    assert result.all("NetworkPolicy", "deepseek-r1-llama-70b-etcd") == []
