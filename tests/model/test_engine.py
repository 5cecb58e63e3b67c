"""vLLM engine arguments, typed against the flags of the pinned ai-dynamo and vLLM."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from constructs_lib.errors import KeyMistakes
from constructs_lib.model import VllmEngineArgs
from constructs_lib.model.engine import MANAGED, flags


def mistakes(args: dict[str, object]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        VllmEngineArgs.model_validate(args)
    [error] = caught.value.errors()
    found = error["ctx"]["error"]
    assert isinstance(found, KeyMistakes)
    return found.mistakes


def test_values_render_as_vllm_flags_in_the_order_written() -> None:
    args = VllmEngineArgs.model_validate({
        "tensor-parallel-size": 4, "enable-prefix-caching": False, "enforce-eager": True,
        "gpu-memory-utilization": 0.9, "max-model-len": "32K",
        "compilation-config": {"level": 3}, "dtype": "bfloat16"})
    assert args.arguments() == [
        "--tensor-parallel-size", "4", "--no-enable-prefix-caching", "--enforce-eager",
        "--gpu-memory-utilization", "0.9", "--max-model-len", "32K",
        "--compilation-config", '{"level":3}', "--dtype", "bfloat16"]


def test_a_pool_overrides_the_shared_arguments() -> None:
    shared = VllmEngineArgs.model_validate({"block-size": 64, "tensor-parallel-size": 1})
    pool = VllmEngineArgs.model_validate({"tensor-parallel-size": 4})
    assert shared.merged(pool).root == {"block-size": 64, "tensor-parallel-size": 4}


def test_a_misspelt_flag_names_the_closest() -> None:
    assert mistakes({"tensor-paralel-size": 4}) == {
        "tensor-paralel-size": "unknown engine argument (did you mean 'tensor-parallel-size'?)"}


def test_an_unknown_flag_says_which_runtime_it_was_checked_against() -> None:
    [message] = mistakes({"speculative-decoding-magic": 1}).values()
    assert message == ("unknown engine argument (not a flag of dynamo.vllm 1.6.1 with vLLM "
                       "0.31.0)")


@pytest.mark.parametrize("key", sorted(MANAGED))
def test_a_flag_the_library_writes_is_refused_with_the_setting_to_use(key: str) -> None:
    [message] = mistakes({key: "x"}).values()
    assert message.startswith(f"x: the library sets --{key} from {MANAGED[key]}")


@pytest.mark.parametrize("key, value, expected", [
    ("tensor-parallel-size", "four", "four: --tensor-parallel-size takes a whole number"),
    ("tensor-parallel-size", True, "true: --tensor-parallel-size takes a whole number"),
    ("enforce-eager", "yes", "yes: --enforce-eager is a switch; give true or false"),
    ("dtype", "int4", "int4: --dtype is one of auto, bfloat16, float, float16, float32, half"),
    ("kv-cache-dtype", {"a": 1}, "{'a': 1}: --kv-cache-dtype takes a string"),
])
def test_a_value_of_the_wrong_type_is_refused(key: str, value: object, expected: str) -> None:
    assert mistakes({key: value}) == {key: expected}


def test_negations_are_written_as_false() -> None:
    assert mistakes({"no-enable-prefix-caching": True}) == {
        "no-enable-prefix-caching": "true: write the switch as enable-prefix-caching: false "
                                    "(it renders --no-enable-prefix-caching)"}


def test_the_flag_table_is_the_pinned_runtime_s() -> None:
    table = flags()
    assert table["tensor-parallel-size"]["type"] == "int"
    assert set(table["disaggregation-mode"]["choices"]) == {"pd", "agg", "prefill", "decode",
                                                             "encode"}
    assert len(table) > 300
