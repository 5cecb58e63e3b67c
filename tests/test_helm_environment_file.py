"""The environment file written for a converted release: minimal, readable, and equivalent."""

from __future__ import annotations

from pathlib import Path

import yaml

from constructs_lib.model.loader import load_environment
from constructs_lib.tools.helm.environment_file import render
from tests.support.helm_values import MULTINODE, PREFILL_CONFIGS, converted


def _round_trip(text: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    file = tmp_path / "env.yaml"
    file.write_text(text)
    return load_environment(file)


def test_only_settings_that_differ_from_the_models_defaults_are_written() -> None:
    env = converted().environment
    data = yaml.safe_load(render(env, []))
    assert list(data) == ["release", "namespace", "mode", "frontend"]
    assert data["frontend"]["resources"] == {"gpus": 8}
    assert list(data["frontend"]) == ["resources", "config"]


def test_the_header_comes_first_as_comments() -> None:
    text = render(converted().environment, ["Converted from x", "", "Notes"])
    assert text.startswith("# Converted from x\n#\n# Notes\nrelease: r1\n")


def test_configs_keep_their_own_key_order() -> None:
    configs = ("VllmWorker:\n  tensor-parallel-size: 2\n  block-size: 64\n"
               "  ServiceArgs: {workers: 1, resources: {gpu: 2}}\n"
               "Frontend:\n  port: 8000\n"
               "PrefillWorker:\n  block-size: 64\n"
               "  ServiceArgs: {workers: 2, resources: {gpu: 1}}\n")
    text = render(converted({"configs": configs, "single": {"resources": {
        "requests": {"nvidia.com/gpu": 4}, "limits": {"nvidia.com/gpu": 4}}}}).environment, [])
    assert text.index("VllmWorker:") < text.index("Frontend:")
    assert text.index("tensor-parallel-size") < text.index("block-size")


def test_a_release_with_every_kind_of_setting_reads_back_equal(tmp_path: Path) -> None:
    env = converted(MULTINODE, {
        "image": {"tag": "v0.1.2", "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "registry"}],
        "nameOverride": "llm",
        "podLabels": {"app.team": "llm"},
        "podAnnotations": {"prometheus.io/scrape": "false"},
        "service": {"type": "NodePort", "port": 8080},
        "modelPVC": {"enable": False, "name": "models", "mountPath": "/models"},
        "rdma": {"networkMode": "tke-bridge", "hostNetwork": False},
        "multinode": {
            "replicas": 2, "labels": {"gpu.class": "h20"}, "annotations": {"a": "b"},
            "metrics": {"enable": True, "port": 9100, "image": {"repository": "registry/metrics",
                                                          "tag": "metrics-1"},
                        "serviceMonitor": {"enable": True, "interval": "30s",
                                           "additionalLabels": {"prometheus": "main"},
                                           "relabelings": [{"action": "keep", "regex": "x"}]}},
            "prefill": {"replicas": 3, "resources": {"limits": {"nvidia.com/gpu": 4,
                                                                "memory": "200Gi"}}},
        },
        "prefillConfigs": PREFILL_CONFIGS.replace("workers: 8", "workers: 4"),
        "etcd": {"replicaCount": 3, "persistence": {"size": "50Gi"},
                 "resources": {"requests": {"cpu": 1}}},
        "nats": {"config": {"jetstream": {"fileStore": {"dir": "/js",
                                                        "pvc": {"enabled": False}}}}},
        "natsServerOverride": "nats://elsewhere:4222",
    }).environment
    assert _round_trip(render(env, ["header"]), tmp_path) == env


def test_the_seed_defaults_read_back_equal(tmp_path: Path) -> None:
    env = converted().environment
    assert _round_trip(render(env, []), tmp_path) == env
