"""`configs`, `prefillConfigs` and `graphs`: what `dynamo serve` runs."""

from __future__ import annotations

from constructs_lib.model import Component
from constructs_lib.tools.helm.inputs import chart_defaults
from tests.support.helm_values import FRONTEND_GRAPH, MULTINODE, converted, problems, warnings


def test_configs_that_are_not_yaml_are_refused_with_the_line() -> None:
    assert problems({"configs": "Frontend:\n  port: 8000\n bad: [\n"}) == [
        "f0.yaml: configs: is not valid YAML: line 3, column 2: expected <block end>, but found "
        "'<block mapping start>' (it holds Dynamo's configs.yaml)"]


def test_configs_must_be_a_mapping_of_sections() -> None:
    assert problems({"configs": "just text"}) == [
        "f0.yaml: configs: expected a configs.yaml mapping of component sections such as "
        "Frontend: and VllmWorker:, got just text"]
    assert problems({"configs": {"Frontend": {}}}) == [
        "f0.yaml: configs: expected the text of a configs.yaml (a string, e.g. written with "
        "`|`), got {'Frontend': {}}"]


def test_invalid_config_values_are_named_by_their_key_inside_configs() -> None:
    configs = chart_defaults()["configs"].replace("tensor-parallel-size: 4",
                                                  "tensor-parallel-size: -4")
    assert problems({}, {"configs": configs}) == [
        "f1.yaml: configs.VllmWorker.tensor-parallel-size: Input should be greater than or equal "
        "to 1 (received -4)"]
    prefill = "prefillConfigs=PrefillWorker: {tensor_parallel_size: 1}"
    assert problems(MULTINODE, sets=(prefill,)) == [
        "--set: prefillConfigs.PrefillWorker.tensor_parallel_size: unknown key (did you mean "
        "'tensor-parallel-size'?)"]


def test_the_lowercase_router_section_becomes_router_with_a_warning() -> None:
    # As the seed's multi-values.yaml wrote it.
    configs = chart_defaults()["configs"].replace("\nRouter:\n", "\nrouter:\n")
    result = converted({"configs": configs})
    config = result.environment.frontend.config.render()
    assert list(config) == ["Common", "Frontend", "Processor", "Router", "VllmWorker",
                            "PrefillWorker"]
    assert config["Router"] == {"min-workers": 1,
                                "model": "neuralmagic/DeepSeek-R1-Distill-Llama-70B-FP8-dynamic"}
    assert [str(w) for w in result.warnings] == [
        "f0.yaml: configs.router: converted to Router: components read their section by class "
        "name, so no component read the seed's lowercase section; the Router now uses its "
        "settings"]


def test_router_and_lowercase_router_together_are_refused() -> None:
    assert problems({"configs": "Router: {min-workers: 1}\nrouter: {min-workers: 2}\n"}) == [
        "f0.yaml: configs.router: is given as well as Router; Dynamo reads only Router. Merge "
        "the two sections"]


def test_the_graph_file_of_the_mode_gives_the_chain() -> None:
    graph = "from components.frontend import Frontend\nfrom components.worker import VllmWorker\n" \
            "Frontend.link(VllmWorker)\n"
    # Without PrefillWorker the decode worker prefills itself, on the 4 GPUs it takes.
    aggregated = {"configs": chart_defaults()["configs"].replace("remote-prefill: true",
                                                                 "remote-prefill: false"),
                  "single": {"resources": {"requests": None, "limits": {"nvidia.com/gpu": 4}}}}
    env = converted(aggregated, sets=(f"graphs.single\\.py={graph}",)).environment
    assert env.frontend.graph == [Component.FRONTEND, Component.VLLM_WORKER]


def test_a_graph_without_the_prefill_worker_that_remote_prefill_needs_is_refused() -> None:
    graph = "from components.frontend import Frontend\nfrom components.worker import VllmWorker\n" \
            "Frontend.link(VllmWorker)\n"
    assert problems({"single": {"resources": {"limits": {"nvidia.com/gpu": 4},
                                              "requests": {"nvidia.com/gpu": 4}}}},
                    sets=(f"graphs.single\\.py={graph}",)) == [
        "chart defaults: configs.VllmWorker.remote-prefill: true, but no PrefillWorker runs "
        "(PrefillWorker is not in graphs.single.py): prompts sent for remote prefill would wait "
        "in the queue forever"]


def test_graph_problems_name_the_file() -> None:
    assert problems({"graphs": {"single.py": "Frontend.link(Processor)\n"}}) == [
        "f0.yaml: graphs.single.py: links Frontend but never imports it "
        "(from components.frontend import Frontend)"]


def test_graph_files_the_mode_does_not_run_are_dropped_with_a_warning() -> None:
    assert warnings({"graphs": {"frontend.py": FRONTEND_GRAPH}}) == [
        "f0.yaml: graphs.frontend.py: is not run in single mode (it runs graphs/single.py); "
        "dropped"]
    # The chart's own single.py, present in every multinode release, is not worth a warning.
    assert warnings(MULTINODE) == []
