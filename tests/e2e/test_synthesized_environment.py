"""End to end: a synthesized Dynamo 1.x environment runs on 127.0.0.1 without a GPU.

The shipped `single-node-v1` environment is synthesized; etcd and NATS start from their
StatefulSets' containers and configuration, the frontend (KV router) and one decode and one
prefill worker from their Deployments' containers (``dynamo.vllm`` replaced by
``dynamo.mocker``, Service names by loopback ports: constructs_lib/tools/run_local/translate.py).
Checks: every synthesized probe answers, ``/v1/models``, a chat completion and a streaming one,
served by both a prefill and a decode worker; every metric the autoscalers and dashboards read
(constructs_lib/_render/metrics.py) is on the frontend's and workers' ``/metrics``, and so is
every series the shipped autoscaling examples' synthesized ScaledObjects, prometheus-adapter
rules and Grafana dashboards select; nothing listens beyond loopback; after stop, no process and
no listener is left.

Needs the Dynamo venv (``scripts/install-dynamo-runtime.sh``), ``etcd`` and ``nats-server``;
skipped with the reason otherwise (an error instead when DYNAMO_E2E_REQUIRED=1). Every wait is
bounded (``TIMEOUT`` seconds).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.tools import synth
from constructs_lib.tools.run_local import LocalStack, OpenAIClient, dynamo_python
from constructs_lib.tools.run_local.processes import http_get
from constructs_lib.tools.run_local.synthesized import StartedEnvironment, read_manifests, start
from tests.conftest import ENVIRONMENTS
from tests.e2e.conftest import requirements_marks
from tests.support.exposition import Exposition, unmatched

ENVIRONMENT = "single-node-v1"
SERVED_MODEL_NAME = "neuralmagic/DeepSeek-R1-Distill-Llama-70B-FP8-dynamic"

TIMEOUT = 60.0
PROMPT = [{"role": "user", "content": "Say hello to the mock engine"}]


pytestmark = requirements_marks()


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartedEnvironment]:
    out = tmp_path_factory.mktemp("synth") / "dist"
    synth.synthesize(synth.load_all([ENVIRONMENTS / f"{ENVIRONMENT}.yaml"]), out)
    documents = read_manifests(out / ENVIRONMENT)
    workdir = Path(tmp_path_factory.mktemp("dynamo-local"))
    with LocalStack(workdir, python=str(dynamo_python()), timeout=TIMEOUT) as local:
        yield start(local, documents, replicas=1)
    # LocalStack.__exit__ stopped everything, also when the test failed.


@pytest.fixture(scope="module")
def stack(started: StartedEnvironment) -> LocalStack:
    return started.stack


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> OpenAIClient:
    return OpenAIClient(stack.commands["frontend"].url("http"), timeout=30.0)


def _instances(stack: LocalStack) -> dict[str, set[int]]:
    status, raw = http_get(stack.commands["frontend"].url("http", "/health"))
    assert status == 200, raw
    ids: dict[str, set[int]] = {}
    for item in json.loads(raw)["instances"]:
        ids.setdefault(item["component"], set()).add(item["instance_id"])
    return ids


def test_probes_answer_on_loopback(stack: LocalStack) -> None:
    for name, command in stack.commands.items():
        for url in (command.liveness_url, command.readiness_url):
            if url:
                status, body = http_get(url)
                assert status == 200, f"{name} {url}: {status} {body[:200]!r}"
    for name in ("decode-0", "prefill-0"):
        port = stack.commands[name].named_ports["system"]
        assert port <= 32767, "Dynamo parses DYN_SYSTEM_PORT as a signed 16-bit number"


def test_models_lists_served_model_name(client: OpenAIClient) -> None:
    deadline = time.monotonic() + TIMEOUT
    while SERVED_MODEL_NAME not in (models := client.models()):
        assert time.monotonic() < deadline, f"/v1/models: {models}"
        time.sleep(0.2)


def test_chat_completion_uses_prefill_and_decode(stack: LocalStack, client: OpenAIClient) -> None:
    result = client.chat(SERVED_MODEL_NAME, PROMPT, max_tokens=8)
    assert result.content.strip(), result.raw
    assert result.finish_reason == "length"
    assert result.usage and result.usage["completion_tokens"] == 8
    assert result.workers is not None, f"no nvext.worker_id in {result.raw}"
    instances = _instances(stack)
    assert result.workers.prefill_worker_id in instances["prefill"]
    assert result.workers.decode_worker_id in instances["backend"]


def test_streaming_chat_completion(stack: LocalStack, client: OpenAIClient) -> None:
    result = client.chat_stream(SERVED_MODEL_NAME, PROMPT, max_tokens=6)
    assert result.done, "no data: [DONE]"
    assert result.content.strip()
    assert result.finish_reason == "length"
    assert len(result.chunks) >= 6
    assert result.workers is not None
    instances = _instances(stack)
    assert result.workers.prefill_worker_id in instances["prefill"]
    assert result.workers.decode_worker_id in instances["backend"]


def _scrape(url: str) -> Exposition:
    status, body = http_get(url)
    assert status == 200, f"{url}: {status}"
    return Exposition.parse(body.decode())


def test_autoscaling_and_dashboard_metrics_are_exported(
        started: StartedEnvironment, client: OpenAIClient) -> None:
    from constructs_lib._render import autoscaling, dashboards, metrics
    from constructs_lib.model.autoscaling import DecodeAutoscaling, PrefillAutoscaling

    # Histograms have series once a request has been observed.
    client.chat(SERVED_MODEL_NAME, PROMPT, max_tokens=4)
    client.chat_stream(SERVED_MODEL_NAME, PROMPT, max_tokens=4)
    stack = started.stack
    frontend_command = stack.commands[started.frontend]
    frontend = _scrape(frontend_command.url("http", "/metrics"))
    workers = {role: [_scrape(stack.commands[name].url("system", "/metrics"))
                      for name in started.workers[role]] for role in ("prefill", "decode")}
    assert all(workers.values()), started.workers

    all_workers = [*workers["prefill"], *workers["decode"]]
    # Every catalogued metric: exported by its process with its type and its labels.
    for metric in metrics.CATALOGUE:
        scrapes = [frontend] if metric.source == "frontend" else all_workers
        series = metric.name + ("_bucket" if metric.kind == "histogram" else "")
        for scrape in scrapes:
            assert series in scrape.names(), f"{series} not exported"
            assert scrape.types.get(metric.name) == metric.kind, metric.name
            assert metric.labels <= scrape.label_names(series), (
                metric.name, sorted(scrape.label_names(series)))

    # Every selector of every query, with this deployment's label values, matches a series.
    argv = frontend_command.argv
    scope = metrics.MetricScope(namespace="local", model=SERVED_MODEL_NAME,
                                dynamo_namespace=frontend_command.env["DYN_NAMESPACE"])
    exprs = [autoscaling.signal_query(role, settings, scope).expr
             for role, settings in (
                 *(("prefill", PrefillAutoscaling(signal=s)) for s in ("ttft_p95",
                                                                       "dispatch_queue")),
                 *(("decode", DecodeAutoscaling(signal=s)) for s in ("itl_p95",
                                                                     "kv_cache_usage")))]
    kv_router = argv[argv.index("--router-mode") + 1] == "kv"
    assert kv_router, "single-node-v1 routes with the KV router: its KV panels must be proven"
    board = dashboards.dashboard("local", scope, kv_router=kv_router)
    exprs += [target["expr"] for _, target in dashboards.targets(board)]
    ignore = metrics.TARGET_LABELS | {scope.namespace_label}
    assert unmatched(exprs, [frontend, *all_workers], ignore) == []
    assert len(exprs) > 20


# The shipped examples that autoscale and ship a dashboard: what they synthesize is checked
# against this run's scrape below.
AUTOSCALING_EXAMPLES = ("autoscaling-keda", "autoscaling-hpa")


def _synthesized_queries(documents: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Every PromQL expression of a synthesized environment, by where it is written: the KEDA
    triggers, the prometheus-adapter rules (series and metrics queries) and the dashboards."""
    found: dict[str, list[str]] = {"keda": [], "adapter": [], "dashboard": []}
    for document in documents:
        if document["kind"] == "ScaledObject":
            found["keda"] += [t["metadata"]["query"] for t in document["spec"]["triggers"]]
        elif document["kind"] == "ConfigMap":
            data = document.get("data", {})
            if "config.yaml" in data and "externalRules" in data["config.yaml"]:
                for rule in yaml.safe_load(data["config.yaml"])["externalRules"]:
                    found["adapter"] += [rule["seriesQuery"], rule["metricsQuery"]]
            for key, text in data.items():
                if key.endswith(".json"):
                    board = json.loads(text)
                    found["dashboard"] += [target["expr"] for panel in board["panels"]
                                           for target in panel.get("targets", [])]
    return found


def test_the_synthesized_autoscalers_and_dashboards_read_exported_series(
        started: StartedEnvironment, client: OpenAIClient,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The ScaledObjects, prometheus-adapter rules and dashboards of the shipped autoscaling
    examples, as synthesized, select series this run exports, label values included: each
    example's own Dynamo namespace label stands for this run's (both serve the same model;
    the Kubernetes `namespace` label is Prometheus' own, left out as above)."""
    from constructs_lib._render import metrics

    client.chat(SERVED_MODEL_NAME, PROMPT, max_tokens=4)
    client.chat_stream(SERVED_MODEL_NAME, PROMPT, max_tokens=4)
    stack = started.stack
    frontend_command = stack.commands[started.frontend]
    scrapes = [_scrape(frontend_command.url("http", "/metrics")),
               *(_scrape(stack.commands[name].url("system", "/metrics"))
                 for role in ("prefill", "decode") for name in started.workers[role])]
    ours = metrics.dynamo_namespace_label(frontend_command.env["DYN_NAMESPACE"])
    out = tmp_path_factory.mktemp("synth-autoscaling") / "dist"
    environments = synth.load_all([ENVIRONMENTS / f"{name}.yaml" for name in AUTOSCALING_EXAMPLES])
    synth.synthesize(environments, out)
    checked: dict[str, int] = {}
    for name, environment in environments.items():
        assert environment.model.name == SERVED_MODEL_NAME, name
        theirs = metrics.dynamo_namespace_label(
            environment.runtime.dynamo_namespace or environment.full_name)
        for where, exprs in _synthesized_queries(read_manifests(out / name)).items():
            local = [e.replace(f'dynamo_namespace="{theirs}"', f'dynamo_namespace="{ours}"')
                     for e in exprs]
            ignore = metrics.TARGET_LABELS | {"namespace"}
            assert unmatched(local, scrapes, ignore) == [], (name, where)
            checked[f"{name} {where}"] = len(exprs)
    # Not vacuous: both pools' KEDA triggers, the HPA's adapter rule, both dashboards.
    assert checked["autoscaling-keda keda"] == 2 and checked["autoscaling-hpa adapter"] == 2
    assert checked["autoscaling-keda dashboard"] > 20 and checked["autoscaling-hpa dashboard"] > 15


def test_nothing_listens_beyond_loopback(stack: LocalStack) -> None:
    from constructs_lib.tools.run_local import listening_sockets

    listeners = listening_sockets(stack.group.pids)
    # Not vacuous: each of the five processes has at least one listener.
    assert {item.pid for item in listeners} >= set(stack.group.pids), listeners
    assert stack.non_loopback_listeners() == []


def test_stop_leaves_nothing_behind(stack: LocalStack) -> None:
    # Runs last in this module (pytest keeps file order); the fixture's exit stops again.
    pids = stack.group.pids
    codes = stack.stop()
    assert all(code is not None for code in codes.values()), codes
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"pid {pid} still alive"
    assert stack.leftovers() == set()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
