"""The production settings of an environment file: defaults, and mistakes refused with a line
each naming the file, the field, the value received and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from constructs_lib.errors import ConfigError
from constructs_lib.model import Environment
from constructs_lib.model.loader import load_environment
from constructs_lib.tools import cli
from tests.conftest import ENVIRONMENTS

BASE = yaml.safe_load((ENVIRONMENTS / "single-node.yaml").read_text())


def write(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump({**BASE, **changes}))
    return path


def problems(tmp_path: Path, **changes: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_environment(write(tmp_path, **changes))
    return [str(p) for p in caught.value.problems]


def test_the_defaults_a_careful_operator_would_choose() -> None:
    env = Environment.model_validate(BASE)
    assert env.frontend.probes.startup_timeout_seconds >= 30 * 60
    assert env.frontend.update_strategy.type == "Recreate"
    assert env.shared_memory.size_per_gpu == "2Gi"
    assert env.security.drop_all_capabilities and not env.security.automount_service_account_token
    assert env.dependency_wait.enabled and env.network_policy.enabled and not env.debug
    assert env.dependencies.etcd.run_as_user >= 10000
    rdma = env.rdma
    assert (rdma.nccl_ib_gid_index, rdma.nccl_ib_hca, rdma.nccl_socket_ifname,
            rdma.gloo_socket_ifname, rdma.vllm_worker_multiproc_method) == (
        3, "mlx5", "eth0", "eth0", "spawn")


def test_every_mistake_is_reported_with_its_field(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        dependencies={"etcd": {"replicas": 2}},
        network_policy={"allowed_cidrs": ["10.0.0.1/8"]},
        placement={"tolerations": [{"operator": "Exists", "value": "gpu"}]},
        shared_memory={"size_per_gpu": "lots"},
        frontend={**BASE["frontend"], "probes": {"startup_timeout_seconds": 5},
                  "update_strategy": {"type": "BlueGreen"}},
    )
    path = str(tmp_path / "prod.yaml")
    assert all(p.startswith(f"{path}: ") for p in found)
    fields = [p.split(": ")[1] for p in found]
    # In the model's field order: the settings every environment has, then the v0.1 roles.
    assert fields == ["dependencies.etcd.replicas", "shared_memory.size_per_gpu",
                      "placement.tolerations[0]", "network_policy.allowed_cidrs[0]",
                      "frontend.probes.startup_timeout_seconds", "frontend.update_strategy.type"]
    assert any("must be 1, 3 or 5" in p and "(received 2)" in p for p in found)
    assert any("CIDR" in p and "10.0.0.1/8" in p for p in found)


def test_a_misspelt_setting_lists_the_allowed_ones(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, security={"drop_all_capabilites": False})
    assert "security.drop_all_capabilites: unknown key" in problem
    assert "drop_all_capabilities" in problem


def test_the_cli_refuses_with_exit_code_2_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, dependencies={"nats": {"replicas": 4}})
    out = tmp_path / "dist"
    assert cli.main(["synth", str(path), "--output", str(out)]) == 2
    assert not out.exists()
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{path}: dependencies.nats.replicas: must be 1, 3 or 5")
