"""The rules, run through the constructs of charts composed from environments built to break
them, and reported in the file's terms."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from constructs_lib.errors import ConfigError
from constructs_lib.model import Environment
from constructs_lib.model import rules as file_rules
from constructs_lib.model.loader import load_environment
from constructs_lib.rules import Finding
from tests.conftest import ENVIRONMENTS, SHIPPED, Synthesized
from tests.support.charts import composed
from tests.support.environments import checked, data, unchecked


def fields(findings: list[Finding]) -> list[str]:
    return [f.field for f in findings]


def found(env: Environment, rule: str) -> list[Finding]:
    """What `rule` finds in the chart composed from `env`, at any stage."""
    return [f for f in composed(env, check_rules=False).findings() if f.rule == rule]


def only(env: Environment, rule: str) -> Finding:
    result = found(env, rule)
    assert len(result) == 1, result
    return result[0]


def problems(env: Environment) -> list[Finding]:
    return composed(env, check_rules=False).problems()


def warnings(env: Environment) -> list[Finding]:
    return [*composed(env).warnings(), *file_rules.warnings(env)]


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_environments_break_no_rule(name: str) -> None:
    assert problems(checked(name)) == []


# --- GPU arithmetic -------------------------------------------------------------------------

def test_the_prefill_pod_must_request_what_its_workers_take() -> None:
    env = unchecked("multi-node", prefill={"resources": {"gpus": 4}})
    finding = only(env, "pod_gpus_match_workers")
    assert finding.field == "prefill.resources.gpus"
    assert finding.message.startswith("4 nvidia.com/gpu, but the components of the prefill pod "
                                      "ask for 8: PrefillWorker 8 x 1")


def test_only_the_components_of_the_graph_count() -> None:
    graph = ["Frontend", "Processor", "Router", "VllmWorker"]
    env = unchecked("multi-node", frontend={"graph": graph})
    finding = only(env, "pod_gpus_match_workers")
    assert finding.field == "frontend.resources.gpus"
    assert "ask for 4: VllmWorker 1 x 4 (" in finding.message
    fixed = unchecked("multi-node", frontend={"graph": graph, "resources": {"gpus": 4}})
    assert found(fixed, "pod_gpus_match_workers") == []


def test_a_worker_without_service_args_takes_one_gpu() -> None:
    env = unchecked("single-node", frontend={"config": {"VllmWorker": {"ServiceArgs": None}}})
    assert "VllmWorker 1 x 1 + PrefillWorker 4 x 1" in only(
        env, "pod_gpus_match_workers").message
    finding = only(env, "parallelism_matches_worker_gpus")
    assert finding.field == "frontend.config.VllmWorker.tensor-parallel-size"
    assert "the component's default gives each VllmWorker worker 1" in finding.message


def test_pipeline_parallelism_counts_towards_the_worker_gpus() -> None:
    split = {"tensor-parallel-size": 2, "pipeline-parallel-size": 2}
    env = unchecked("single-node", frontend={"config": {"VllmWorker": split}})
    assert found(env, "parallelism_matches_worker_gpus") == []
    env = unchecked("single-node", frontend={"config": {"VllmWorker": {
        **split, "pipeline-parallel-size": 4}}})
    assert only(env, "parallelism_matches_worker_gpus").message.startswith(
        "2 x pipeline-parallel-size 4 needs 8 GPUs per worker, but ServiceArgs.resources.gpu "
        "gives each VllmWorker worker 4")


# --- across roles ---------------------------------------------------------------------------

SAME_MODEL = "decode_and_prefill_serve_the_same_model"
REMOTE_PREFILL = "remote_prefill_has_what_it_needs"


def test_prefill_and_decode_must_accept_the_same_prompt_length() -> None:
    env = unchecked("multi-node", prefill={"config": {"PrefillWorker": {"max-model-len": 8192}}})
    finding = only(env, SAME_MODEL)
    assert finding.field == "prefill.config.PrefillWorker.max-model-len"
    assert finding.message.startswith(
        "8192, but the decode worker's (frontend.config.VllmWorker.max-model-len) is 3500")


def test_values_inherited_from_common_are_compared_where_they_are_written() -> None:
    env = unchecked("single-node", frontend={"config": {"PrefillWorker": {"block-size": 32}}})
    finding = only(env, SAME_MODEL)
    assert finding.field == "frontend.config.PrefillWorker.block-size"
    assert "(frontend.config.Common.block-size) is 64" in finding.message


@pytest.mark.parametrize("prefill_role, decode_role, compatible", [
    ("kv_producer", "kv_consumer", True),
    ("kv_both", "kv_both", True),
    ("kv_consumer", "kv_consumer", False),
    ("kv_producer", "kv_producer", False),
])
def test_kv_roles_must_let_prefill_produce_and_decode_consume(
        prefill_role: str, decode_role: str, compatible: bool) -> None:
    def kv(role: str) -> str:
        return f'{{"kv_connector":"DynamoNixlConnector","kv_role":"{role}"}}'
    decode, prefill = ({"kv-transfer-config": kv(decode_role)},
                       {"kv-transfer-config": kv(prefill_role)})
    env = unchecked("multi-node",
                    frontend={"config": {"VllmWorker": decode, "PrefillWorker": prefill}},
                    prefill={"config": {"PrefillWorker": prefill}})
    result = found(env, SAME_MODEL)
    assert (result == []) is compatible
    assert all(f.message.startswith(f"kv_role {prefill_role} with the decode worker's kv_role "
                                    f"{decode_role}") for f in result)


def test_remote_prefill_needs_a_connector_on_every_prefill_side() -> None:
    env = unchecked("multi-node", prefill={"config": {"PrefillWorker": {
        "kv-transfer-config": None}}})
    finding = only(env, REMOTE_PREFILL)
    assert finding.field == "prefill.config.PrefillWorker.kv-transfer-config"
    # The other rule leaves a missing connector to this one: one mistake, one line.
    assert found(env, SAME_MODEL) == []


def test_without_remote_prefill_no_connector_is_needed() -> None:
    env = unchecked("multi-node", frontend={"config": {"VllmWorker": {
        "remote-prefill": False, "kv-transfer-config": None}}})
    assert found(env, REMOTE_PREFILL) == []


def test_remote_prefill_needs_a_prefill_worker_that_runs() -> None:
    env = unchecked("single-node", frontend={
        "graph": ["Frontend", "Processor", "Router", "VllmWorker"]})
    finding = only(env, REMOTE_PREFILL)
    assert finding.field == "frontend.config.VllmWorker.remote-prefill"
    assert "(PrefillWorker is not in frontend.graph)" in finding.message


@pytest.mark.parametrize("key, value, refused", [
    ("enforce-eager", False, True),
    ("enforce-eager", True, False),
    ("enable-prefix-caching", True, True),
    ("disable-async-output-proc", False, True),
    ("pipeline-parallel-size", 1, False),
])
def test_settings_the_prefill_worker_overrides_are_refused(key: str, value: object,
                                                           refused: bool) -> None:
    env = unchecked("multi-node", prefill={"config": {"PrefillWorker": {key: value}}})
    assert fields(found(env, "no_setting_dynamo_overrides")) == (
        [f"prefill.config.PrefillWorker.{key}"] if refused else [])


# --- names and ports ------------------------------------------------------------------------

@pytest.mark.parametrize("name", SHIPPED)
def test_the_rules_check_the_names_the_constructs_emit(
        name: str, synthesized: dict[str, Synthesized]) -> None:
    from constructs_lib.rules.subjects import RuleSubject, subjects_of

    chart = composed(synthesized[name].environment)
    checked_names = {(o.kind, o.name) for s in subjects_of(chart, RuleSubject)
                     for o in s.named_objects()}
    emitted = {(d["kind"], d["metadata"]["name"]) for d in synthesized[name].documents}
    assert checked_names == emitted


def test_fullname_override_renames_dynamo_objects_but_not_the_dependencies() -> None:
    from constructs_lib.rules.subjects import RuleSubject, subjects_of

    chart = composed(checked("single-node", fullname_override="r1-serving"))
    by_field = {(o.locator.field(o.prop), o.name) for s in subjects_of(chart, RuleSubject)
                for o in s.named_objects()}
    assert ("fullname_override", "r1-serving-single") in by_field
    assert ("release", "deepseek-r1-llama-70b-etcd") in by_field


def test_a_service_monitor_is_named_when_it_is_made() -> None:
    env = unchecked("multi-node", fullname_override="x" * 60, frontend={"metrics": {
        "enabled": True, "service_monitor": {"enabled": True}}})
    finding = only(env, "generated_names_are_valid")
    assert finding.field == "fullname_override"
    assert f"{'x' * 60}-multinode (70 characters) cannot be a Service name" in finding.message
    chart = composed(env, check_rules=False)
    assert chart.frontend.service_monitor is not None
    assert chart.frontend.service_monitor.api_object.object_name == "x" * 60


def test_ports_of_a_disabled_sidecar_do_not_collide() -> None:
    env = unchecked("single-node", frontend={"metrics": {"enabled": False, "port": 8000}})
    assert found(env, "ports_are_distinct") == []


def test_an_external_dependency_needs_no_deployed_one() -> None:
    env = unchecked("single-node", dependencies={"nats": {
        "enabled": False, "server_override": "nats://nats.shared.svc:4222"}})
    assert found(env, "dependencies_are_reachable") == []


# --- all problems at once -------------------------------------------------------------------

def test_every_problem_of_a_stage_is_reported_together() -> None:
    env = unchecked("single-node",
                    dependencies={"etcd": {"enabled": False}, "nats": {"enabled": False}},
                    frontend={"metrics": {"enabled": True, "port": 80}})
    assert fields(problems(env)) == ["dependencies.etcd.enabled",
                                     "dependencies.nats.enabled", "frontend.metrics.port"]
    pods = unchecked("multi-node", frontend={"resources": {"gpus": 6}},
                     prefill={"resources": {"gpus": 7}, "config": {"PrefillWorker": {
                         "block-size": 64}}})
    assert fields(problems(pods)) == ["frontend.resources.gpus", "prefill.resources.gpus",
                                      "prefill.config.PrefillWorker.block-size"]


def test_pod_rules_wait_for_a_sound_shape() -> None:
    env = unchecked("multi-node", mode="single", frontend={"resources": {"gpus": 6}})
    assert fields(file_rules.problems(env)) == ["prefill"]


def test_loading_in_python_raises_every_finding_of_the_file() -> None:
    with pytest.raises(ValidationError) as caught:
        Environment.model_validate(data("multi-node", mode="single",
                                        dependencies={"etcd": {"tls": ETCD_TLS}}))
    text = str(caught.value)
    assert "prefill: given, but mode single runs the whole graph in one pod" in text
    assert "dependencies.etcd.tls: server_secret etcd-server" in text


def test_the_chart_raises_every_finding_of_a_stage() -> None:
    from constructs_lib.rules import RuleViolations

    with pytest.raises(RuleViolations) as caught:
        composed(checked("multi-node", frontend={"resources": {"gpus": 6}},
                         prefill={"resources": {"gpus": 7}}))
    text = str(caught.value)
    assert "frontend.resources.gpus: 6 nvidia.com/gpu" in text
    assert "prefill.resources.gpus: 7 nvidia.com/gpu" in text


def test_the_loader_reports_every_field_error_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "two-mistakes.yaml"
    path.write_text((ENVIRONMENTS / "multi-node.yaml").read_text()
                    .replace("  replicas: 2\n", "  replicas: -2\n")
                    .replace("rdma:\n  enabled: true\n", "rdma:\n  enabled: maybe\n"))
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    assert [p.field for p in caught.value.problems] == ["rdma.enabled", "prefill.replicas"]


# --- warnings -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("single-node", []),
    ("multi-node", []),
    ("single-node-no-rdma", ["remote_prefill_without_rdma"]),
    ("multi-node-no-rdma", ["remote_prefill_without_rdma", "single_decode_worker_without_rdma"]),
])
def test_the_shipped_environments_warn_only_without_rdma(name: str, expected: list[str]) -> None:
    assert [w.rule for w in warnings(checked(name))] == expected


def by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def test_more_decode_workers_silence_the_single_decode_warning() -> None:
    env = checked("multi-node-no-rdma", nodes={"count": 4}, frontend={"replicas": 2})
    assert by_rule(warnings(env), "single_decode_worker_without_rdma") == []


def test_prefill_workers_without_remote_prefill_are_idle() -> None:
    env = checked("multi-node", frontend={"config": {"VllmWorker": {"remote-prefill": False}}})
    [finding] = by_rule(warnings(env), "prefill_workers_without_work")
    assert finding.field == "frontend.config.VllmWorker.remote-prefill"
    assert "the PrefillWorkers' 20 GPUs stay idle" in finding.message


def test_a_section_no_process_reads_is_pointed_out() -> None:
    env = checked("multi-node", prefill={"config": {"VllmWorker": {"model": "/data/m"}}})
    [finding] = by_rule(warnings(env), "unused_config_sections")
    assert finding.field == "prefill.config.VllmWorker"


def test_rdma_settings_without_rdma_are_pointed_out_only_when_written() -> None:
    assert by_rule(warnings(checked("single-node-no-rdma")), "rdma_settings_without_rdma") == []
    env = checked("single-node-no-rdma", rdma={"host_network": True})
    assert fields(by_rule(warnings(env), "rdma_settings_without_rdma")) == ["rdma.host_network"]


def test_an_overridden_dependency_that_is_still_deployed_is_pointed_out() -> None:
    env = checked("single-node", dependencies={"etcd": {"endpoints_override": "etcd.shared:2379"}})
    assert fields(by_rule(warnings(env), "overridden_dependencies_still_deployed")) == [
        "dependencies.etcd.endpoints_override"]


# --- etcd TLS -------------------------------------------------------------------------------

ETCD_TLS = {"server_secret": "etcd-server", "client_secret": "etcd-client"}


def test_etcd_tls_needs_dynamo_v1() -> None:
    env = unchecked("single-node", dependencies={"etcd": {"tls": ETCD_TLS}})
    [finding] = by_rule(file_rules.problems(env), "etcd_tls_needs_dynamo_v1")
    assert str(finding) == (
        "dependencies.etcd.tls: server_secret etcd-server, client_secret etcd-client, but dynamo "
        "is v0.1, whose etcd client has no TLS; etcd TLS is allowed with dynamo: 1.x only (or "
        "remove dependencies.etcd.tls)")
    assert problems(checked("single-node-v1", dependencies={"etcd": {"tls": ETCD_TLS}})) == []


def test_etcd_tls_applies_to_the_releases_own_etcd() -> None:
    rule = "etcd_tls_applies_to_the_own_etcd"
    disabled = unchecked("single-node-v1", dependencies={"etcd": {
        "tls": ETCD_TLS, "enabled": False, "endpoints_override": "etcd.shared:2379"}})
    assert str(only(disabled, rule)) == (
        "dependencies.etcd.tls: server_secret etcd-server, client_secret etcd-client, but "
        "dependencies.etcd.enabled is false: TLS applies to the release's own etcd; enable it or "
        "remove dependencies.etcd.tls")
    overridden = unchecked("single-node-v1", dependencies={"etcd": {
        "tls": ETCD_TLS, "endpoints_override": "https://etcd.shared:2379"}})
    assert str(only(overridden, rule)) == (
        "dependencies.etcd.tls: server_secret etcd-server, client_secret etcd-client, but "
        "dependencies.etcd.endpoints_override (https://etcd.shared:2379) sends the Dynamo pods "
        "to another etcd: TLS applies to the release's own etcd; remove one of the two")
    assert found(unchecked("single-node-v1"), rule) == []


@pytest.mark.parametrize("secret", ["server_secret", "client_secret"])
def test_etcd_tls_secret_names_are_dns_subdomains(secret: str) -> None:
    with pytest.raises(ValidationError) as caught:
        checked("single-node-v1", dependencies={"etcd": {"tls": {**ETCD_TLS, secret: "Bad_Name"}}})
    [error] = caught.value.errors()
    assert error["loc"] == ("dependencies", "etcd", "tls", secret)
    assert checked("single-node-v1", dependencies={"etcd": {"tls": {
        **ETCD_TLS, secret: "certs.etcd-1"}}}).dependencies.etcd.tls is not None


def test_etcd_tls_is_off_by_default() -> None:
    assert checked("single-node-v1").dependencies.etcd.tls is None
