"""docs/autoscaling.md shows what the code renders and names only metrics it has checked."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from constructs_lib._render import autoscaling, metrics
from constructs_lib.model.autoscaling import DecodeAutoscaling, PrefillAutoscaling

DOC = Path(__file__).resolve().parents[1] / "docs" / "autoscaling.md"
SCOPE = metrics.MetricScope(namespace="dynamo", dynamo_namespace="deepseek-r1-llama-70b-dynamo",
                            model="neuralmagic/DeepSeek-R1-Distill-Llama-70B-FP8-dynamic")
# Named in the doc to say why they are not used.
NOT_USED = {"dynamo_component_gpu_cache_usage_percent", "dynamo_component_total_blocks"}


def _blocks() -> list[object]:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(),
                                                          re.S)]


def test_examples_are_what_the_code_renders() -> None:
    rules, scaled = _blocks()
    decode = autoscaling.ScaleTarget(name="deepseek-r1-llama-70b-dynamo-decode",
                                     namespace="dynamo", role="decode")
    hpa = DecodeAutoscaling(mode="hpa", max_replicas=2)
    assert rules == yaml.safe_load(autoscaling.prometheus_adapter_values(
        [autoscaling.prometheus_adapter_rule(decode, hpa, SCOPE)]))
    prefill = autoscaling.ScaleTarget(name="deepseek-r1-llama-70b-dynamo-prefill",
                                      namespace="dynamo", role="prefill")
    assert scaled == autoscaling.scaled_object(
        prefill, PrefillAutoscaling(mode="keda", max_replicas=6), SCOPE)


def test_metric_names_are_catalogued() -> None:
    names = set(re.findall(r"\bdynamo_(?:frontend|component)_[a-z_]+", DOC.read_text()))
    assert names
    assert {metrics.family(name) for name in names} - NOT_USED <= set(metrics.BY_NAME)
