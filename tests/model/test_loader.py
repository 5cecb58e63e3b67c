from __future__ import annotations

from pathlib import Path

import pytest

from constructs_lib.errors import ConfigError
from constructs_lib.model.loader import load_environment


def problems(tmp_path: Path, text: str) -> list[str]:
    file = tmp_path / "env.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_environment(file)
    return [str(p).removeprefix(f"{file}: ") for p in caught.value.problems]


MINIMAL = """
release: r1
mode: single
frontend:
  resources: {gpus: 1}
  graph: [Frontend, Processor, Router, VllmWorker]
  config:
    VllmWorker: {model: m}
"""


def test_a_minimal_environment_loads(tmp_path: Path) -> None:
    file = tmp_path / "env.yaml"
    file.write_text(MINIMAL)
    assert load_environment(file).full_name == "r1-dynamo"


def test_unknown_keys_name_the_path_and_the_allowed_keys(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "rdma:\n  enable: true\n")
    assert found == ["rdma.enable: unknown key (did you mean 'enabled'?); allowed here: enabled, "
                     "gloo_socket_ifname, host_network, nccl_ib_gid_index, nccl_ib_hca, "
                     "nccl_socket_ifname, network_mode, ucx_ib_gid_index, ucx_net_devices, "
                     "vllm_worker_multiproc_method"]
    found = problems(tmp_path, MINIMAL + "rdma:\n  usb: true\n")
    assert found[0].startswith("rdma.usb: unknown key; allowed here: enabled, ")


def test_a_misspelt_top_level_key_gets_a_suggestion_and_no_second_line_about_the_key_it_meant(
        tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL.replace("release: r1", "relase: r1"))
    assert len(found) == 1
    assert found[0].startswith("relase: unknown key (did you mean 'release'?); allowed here: ")
    # Capitals are a misspelling too.
    found = problems(tmp_path, MINIMAL.replace("mode: single", "Mode: single"))
    assert [p.split(";")[0] for p in found] == ["Mode: unknown key (did you mean 'mode'?)"]


def test_engine_argument_mistakes_are_named_by_their_key_without_the_whole_section(
        tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL.replace(
        "{model: m}", "{model: m, tensor-paralel-size: 2, --swap-space: 4, dtype: auto, "
                      "hf-overrides: {a: 1}}"))
    assert found == [
        "frontend.config.VllmWorker.tensor-paralel-size: unknown key "
        "(did you mean 'tensor-parallel-size'?)",
        "frontend.config.VllmWorker.--swap-space: unknown key: engine arguments are vLLM flag "
        "names without the leading '--', in lower-case kebab-case (for example enforce-eager)",
        "frontend.config.VllmWorker.hf-overrides: an engine argument must be a scalar or a list "
        "of scalars (received {'a': 1})",
    ]


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    found = problems(tmp_path, MINIMAL + "rdma:\n  network_mode: tke-vpc\nservice:\n  port: 0\n")
    assert sorted(found) == [
        "rdma.network_mode: Input should be 'tke-route-eni' or 'tke-bridge' (received tke-vpc)",
        "service.port: Input should be greater than or equal to 1 (received 0)",
    ]


def test_config_keys_are_reported_as_written(tmp_path: Path) -> None:
    found = problems(tmp_path,
                     MINIMAL.replace("{model: m}", "{model: m, tensor-parallel-size: -1}"))
    assert found == ["frontend.config.VllmWorker.tensor-parallel-size: "
                     "Input should be greater than or equal to 1 (received -1)"]


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_environment(tmp_path / "absent.yaml")
    assert problems(tmp_path, "release: [unclosed\n")[0].startswith("invalid YAML: line 2")
    assert problems(tmp_path, "- a list\n") == ["expected a mapping of settings, got ['a list']"]
