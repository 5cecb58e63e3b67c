from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from constructs_lib.model import Component, ServeConfig
from tests.support.builders import SINGLE_CONFIG


def test_common_configs_are_inherited_and_own_keys_win() -> None:
    config = ServeConfig.model_validate({
        "Common": {"model": "/m", "block-size": 64},
        "VllmWorker": {"common-configs": ["model", "block-size"], "block-size": 128},
    })
    assert config.effective(Component.VLLM_WORKER) == {"model": "/m", "block-size": 128}


def test_inheriting_a_key_common_lacks_is_refused() -> None:
    with pytest.raises(ValidationError, match="names 'router', which Common does not define"):
        ServeConfig.model_validate({"Common": {"model": "/m"},
                                    "Processor": {"common-configs": ["router"]}})


def test_gpus_sum_workers_times_gpus_with_dynamo_defaults() -> None:
    assert SINGLE_CONFIG.gpus(list(Component)) == 1 * 2 + 2 * 1
    bare = ServeConfig.model_validate({"VllmWorker": {"model": "m"}})
    # @service(resources={"gpu": 1}, workers=1) is the v0.1 workers' default
    assert bare.gpus([Component.FRONTEND, Component.VLLM_WORKER, Component.PREFILL_WORKER]) == 2


def test_kv_transfer_config_round_trips_as_the_json_string_vllm_reads() -> None:
    config = ServeConfig.model_validate(
        {"VllmWorker": {"kv-transfer-config": '{"kv_connector": "DynamoNixlConnector"}'}})
    assert config.render()["VllmWorker"]["kv-transfer-config"] == (
        '{"kv_connector":"DynamoNixlConnector"}')


def test_render_keeps_the_files_key_order() -> None:
    text = "Router:\n  min-workers: 1\n  model: m\nFrontend:\n  port: 8000\n"
    rendered = ServeConfig.model_validate(yaml.safe_load(text)).render()
    assert list(rendered) == ["Router", "Frontend"]
    assert list(rendered["Router"]) == ["min-workers", "model"]


def test_unknown_engine_arguments_pass_through() -> None:
    config = ServeConfig.model_validate({"VllmWorker": {"swap-space": 8, "enforce-eager": True}})
    assert config.render()["VllmWorker"] == {"enforce-eager": True, "swap-space": 8}


@pytest.mark.parametrize("section, key, message", [
    ("VllmWorker", "tensor-paralel-size", "did you mean 'tensor-parallel-size'"),
    ("VllmWorker", "block_size", "did you mean 'block-size'"),
    ("PrefillWorker", "ServiceArg", "did you mean 'ServiceArgs'"),
    ("Frontend", "served-model-name", "Extra inputs are not permitted"),
])
def test_misspelt_keys_are_refused(section: str, key: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ServeConfig.model_validate({section: {key: 1}})


def test_section_names_are_case_sensitive() -> None:
    with pytest.raises(ValidationError, match="router"):
        ServeConfig.model_validate({"router": {"min-workers": 1}})


@pytest.mark.parametrize("section", [
    {"tensor-parallel-size": 0},
    {"router": "least-loaded"},
    {"gpu-memory-utilization": 1.5},
    {"kv-transfer-config": "{not json"},
    {"ServiceArgs": {"workers": 0}},
])
def test_invalid_values_are_refused(section: dict) -> None:
    with pytest.raises(ValidationError):
        ServeConfig.model_validate({"VllmWorker": section})
