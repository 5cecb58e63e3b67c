"""The README's Autoscaling section shows what the shipped examples synthesize and names only
metrics the catalogue has checked."""

from __future__ import annotations

import re

import yaml

from constructs_lib._render import metrics
from tests.conftest import ENVIRONMENTS, ROOT

SECTION = (ROOT / "README.md").read_text().split("\n## Autoscaling\n", 1)[1].split("\n## ", 1)[0]
# Named in the section to say why they are not used.
NOT_USED = {"dynamo_component_gpu_cache_usage_percent", "dynamo_component_total_blocks"}


def _blocks() -> list[object]:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", SECTION, re.S)]


def test_examples_are_what_the_shipped_environments_synthesize() -> None:
    pools, adapter_values, scaled = _blocks()
    keda = yaml.safe_load((ENVIRONMENTS / "autoscaling-keda.yaml").read_text())
    assert pools == {"decode": keda["decode"], "prefill": keda["prefill"]}
    rules = yaml.safe_load((ROOT / "dist" / "autoscaling-hpa" /
                            "ConfigMap.deepseek-hpa-dynamo-prefill-adapter-rules.k8s.yaml"
                            ).read_text())
    assert adapter_values == yaml.safe_load(rules["data"]["values.yaml"])
    assert "kubectl -n dynamo get configmap deepseek-hpa-dynamo-prefill-adapter-rules" in SECTION
    assert scaled == yaml.safe_load((ROOT / "dist" / "autoscaling-keda" /
                                     "ScaledObject.deepseek-keda-dynamo-prefill.k8s.yaml"
                                     ).read_text())


def test_metric_names_are_catalogued() -> None:
    names = set(re.findall(r"\bdynamo_(?:frontend|component)_[a-z_]+", SECTION))
    assert names
    assert {metrics.family(name) for name in names} - NOT_USED <= set(metrics.BY_NAME)


def test_the_section_states_the_trade_offs() -> None:
    for heading in ("### KEDA or HPA with prometheus-adapter", "### Why not the Dynamo planner",
                    "### Defaults sized for an hour-long model load", "### The dashboard"):
        assert heading in SECTION
