"""End to end: a synthesized Dynamo 1.x environment runs on 127.0.0.1 without a GPU, as the
cluster runs it.

The shipped `single-node-v1` environment (disaggregated, KV router) is synthesized; etcd starts
from its StatefulSet's container, the frontend from its Deployment's container, then one
decode and one prefill worker from theirs (``dynamo.vllm`` replaced by ``dynamo.mocker``,
Service names by loopback ports: constructs_lib/tools/run_local/translate.py), all inside a
private network namespace holding only ``lo``. One run for the whole module, in order:

- the frontend starts before any worker: its synthesized readiness probe
  (``/v1/models/<served name>/ready``) fails, still fails with only the decode worker, and
  passes once the prefill worker registered;
- the planes are the manifests' (tcp request plane, zmq event plane, no NATS anywhere);
- every synthesized probe answers; ``/v1/models``, a chat completion and a streaming one,
  served by both a prefill and a decode worker;
- the router receives the workers' KV events (the vLLM ``--kv-events-config`` path, through the
  mocker's ZMQ publisher and relay), and reports a worker started without them;
- every metric the autoscalers and dashboards read is exported, and so is every series the
  shipped autoscaling examples' synthesized ScaledObjects, prometheus-adapter rules and Grafana
  dashboards select; nothing can be reached beyond loopback; after stop, no process and no
  listener is left.

Needs the Dynamo venv (``scripts/install-dynamo-runtime.sh``) and ``etcd`` (and
``nats-server`` where no network namespace can be made); skipped with the reason otherwise (an
error instead when DYNAMO_E2E_REQUIRED=1). Every wait is bounded (``TIMEOUT`` seconds).
``DYNAMO_E2E_NETWORK=host`` runs the module in run-local's host-network fallback (the event
plane on a loopback NATS), which it also does where no private namespace can be made.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib.tools import synth
from constructs_lib.tools.run_local import LocalStack, OpenAIClient, dynamo_python, netns
from constructs_lib.tools.run_local.processes import _listening_inodes, http_get
from constructs_lib.tools.run_local.synthesized import (
    StartedEnvironment,
    long_prompt,
    read_manifests,
    start_dependencies,
    start_frontend,
    start_workers,
    wait_discovered,
)
from tests.conftest import ENVIRONMENTS
from tests.e2e.conftest import requirements_marks
from tests.support import dynamo_metrics
from tests.support.exposition import Exposition, unmatched

ENVIRONMENT = "single-node-v1"
SERVED_MODEL_NAME = "neuralmagic/DeepSeek-R1-Distill-Llama-70B-FP8-dynamic"

TIMEOUT = 60.0
PROMPT = [{"role": "user", "content": "Say hello to the mock engine"}]


pytestmark = requirements_marks()


@dataclass
class Readiness:
    """The frontend's synthesized readiness probe as the start-up went."""

    before_workers: list[tuple[int, bytes]]
    """Polled with no worker at all, after the frontend's liveness probe passed."""
    decode_only: list[tuple[int, bytes]]
    """Once the decode worker was ready and its model registered (1 s of polls)."""
    all_workers: tuple[int, bytes]
    """Once the prefill worker had started too (the probe waited for)."""


@dataclass
class Run:
    started: StartedEnvironment
    documents: list[dict[str, Any]]
    readiness: Readiness


def _get(url: str) -> tuple[int, bytes]:
    try:
        return http_get(url)
    except OSError as exc:
        return 0, str(exc).encode()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    out = tmp_path_factory.mktemp("synth") / "dist"
    synth.synthesize(synth.load_all([ENVIRONMENTS / f"{ENVIRONMENT}.yaml"]), out)
    documents = read_manifests(out / ENVIRONMENT)
    workdir = Path(tmp_path_factory.mktemp("dynamo-local"))
    network = "host" if os.environ.get("DYNAMO_E2E_NETWORK") == "host" else "private"
    with LocalStack(workdir, python=str(dynamo_python()), timeout=TIMEOUT,
                    network=network) as local:
        start_dependencies(local, documents)
        started = start_frontend(local, documents)
        frontend = local.commands[started.frontend]
        assert frontend.startup_url and frontend.liveness_url and frontend.readiness_url
        for url in (frontend.startup_url, frontend.liveness_url):
            local.group.wait_http(url, timeout=TIMEOUT, process=started.frontend)
        before = []
        for _ in range(10):  # 2 s of the probe with the frontend alone
            before.append(_get(frontend.readiness_url))
            time.sleep(0.2)
        start_workers(started, 1, components=["decode"])
        local.wait_ready(["decode-0"])
        wait_discovered(started)
        # The model registers shortly after the instance is listed: 404 until then.
        deadline = time.monotonic() + TIMEOUT
        while (decode_only := _get(frontend.readiness_url))[0] == 404:
            assert time.monotonic() < deadline, decode_only
            time.sleep(0.1)
        decode_only_after = []
        for _ in range(5):  # and it stays so for a second
            time.sleep(0.2)
            decode_only_after.append(_get(frontend.readiness_url))
        start_workers(started, 1, components=["prefill"])
        local.wait_ready()  # every probe, the frontend's readiness included
        wait_discovered(started)
        all_workers = _get(frontend.readiness_url)
        yield Run(started, documents,
                  Readiness(before, [decode_only, *decode_only_after], all_workers))
    # LocalStack.__exit__ stopped everything and left the namespace, also when a test failed.


@pytest.fixture(scope="module")
def started(run: Run) -> StartedEnvironment:
    return run.started


@pytest.fixture(scope="module")
def stack(started: StartedEnvironment) -> LocalStack:
    return started.stack


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> OpenAIClient:
    return OpenAIClient(stack.commands["frontend"].url("http"), timeout=30.0)


def _container(run: Run, component: str) -> dict[str, Any]:
    return run.started.pools[component].container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def _instances(stack: LocalStack) -> dict[str, set[int]]:
    status, raw = http_get(stack.commands["frontend"].url("http", "/health"))
    assert status == 200, raw
    ids: dict[str, set[int]] = {}
    for item in json.loads(raw)["instances"]:
        ids.setdefault(item["component"], set()).add(item["instance_id"])
    return ids


def test_readiness_fails_until_a_worker_registers(run: Run, stack: LocalStack) -> None:
    """The frontend's synthesized readiness probe (an httpGet, as the kubelet runs it: ready
    on 200-399) fails while no worker serves the model, and while only decode workers do."""
    url = stack.commands["frontend"].readiness_url
    assert url and url.endswith(f"/v1/models/{SERVED_MODEL_NAME}/ready")
    probe = _container(run, "decode")  # the worker pods' probes are not the frontend's
    assert probe["readinessProbe"]["httpGet"]["path"] == "/health"
    readiness = run.readiness
    assert len(readiness.before_workers) == 10
    for status, body in readiness.before_workers:
        assert status == 404, (status, body)  # "Model not found": the frontend is alive
    for status, body in readiness.decode_only:  # "missing worker types: prefill"
        assert status == 503 and b"prefill" in body, (status, body)
    status, body = readiness.all_workers
    assert status == 200 and json.loads(body)["ready"] is True, (status, body)


def test_planes_and_dependencies_are_the_clusters(run: Run, stack: LocalStack) -> None:
    """The request and event planes the manifests set, and no NATS: none is deployed (only
    the host-network fallback starts one, for its event plane)."""
    private = stack.isolation.private
    assert not [d for d in run.documents if "nats" in d["metadata"]["name"]]
    kinds = {c.kind for c in stack.commands.values()}
    assert kinds == {"etcd", "frontend", "worker"} | (set() if private else {"nats"})
    for name, command in stack.commands.items():
        if command.kind in ("etcd", "nats"):
            continue
        component = "frontend" if name == "frontend" else name.rsplit("-", 1)[0]
        manifest = _env(_container(run, component)) if component != "frontend" else _env(
            next(d for d in run.documents if d["kind"] == "Deployment"
                 and d["metadata"]["name"].endswith("-frontend")
                 )["spec"]["template"]["spec"]["containers"][0])
        assert manifest["DYN_REQUEST_PLANE"] == command.env["DYN_REQUEST_PLANE"] == "tcp"
        assert manifest["DYN_EVENT_PLANE"] == "zmq" and "NATS_SERVER" not in manifest
        if private:
            assert command.env["DYN_EVENT_PLANE"] == "zmq", name
            assert "NATS_SERVER" not in command.env, name
        else:
            assert command.env["DYN_EVENT_PLANE"] == "nats", name
            assert command.env["NATS_SERVER"] == stack.ctx.nats_url, name
    # RDMA workers' host variables come from status.podIP: 127.0.0.1 here.
    prefill = stack.commands["prefill-0"]
    assert _env(_container(run, "prefill"))["DYN_TCP_RPC_HOST"] == {
        "fieldRef": {"fieldPath": "status.podIP"}}
    assert prefill.env["DYN_TCP_RPC_HOST"] == prefill.env["DYN_EVENT_PLANE_HOST"] == "127.0.0.1"


def test_probes_answer_on_loopback(stack: LocalStack) -> None:
    for name, command in stack.commands.items():
        for url in command.probe_urls:
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


def _frontend_metrics(stack: LocalStack) -> str:
    status, body = http_get(stack.commands["frontend"].url("http", "/metrics"))
    assert status == 200
    return body.decode()


def _wait_metrics(stack: LocalStack, done: Any) -> str:
    deadline = time.monotonic() + TIMEOUT
    while not done(text := _frontend_metrics(stack)):
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.2)
    return text


def test_router_receives_the_workers_kv_events(
        run: Run, stack: LocalStack, client: OpenAIClient) -> None:
    """KV routing: the prefill worker publishes KV events the way vLLM's --kv-events-config
    says (here the mocker's ZMQ publisher and relay onto the zmq event plane), and the
    frontend's router stores the blocks of a request longer than one KV block."""
    manifest = _container(run, "prefill")["args"]
    config = json.loads(manifest[manifest.index("--kv-events-config") + 1])
    assert config["enable_kv_cache_events"] is True
    argv = stack.commands["prefill-0"].argv
    # The relay path needs the private namespace (the mock sink binds 0.0.0.0).
    assert ("--zmq-kv-events-ports" in argv) == stack.isolation.private
    assert "--no-enable-prefix-caching" not in argv
    frontend = stack.commands["frontend"].argv
    assert frontend[frontend.index("--router-mode") + 1] == "kv"
    block = int(argv[argv.index("--block-size") + 1])
    assert dynamo_metrics.kv_blocks_stored(_frontend_metrics(stack)) == 0  # not vacuous

    result = client.chat(SERVED_MODEL_NAME, long_prompt(3 * block + 10), max_tokens=2)
    assert result.usage and result.usage["prompt_tokens"] > block
    text = _wait_metrics(stack, lambda t: dynamo_metrics.kv_blocks_stored(t) > 0)
    assert "dynamo_component_router_kv_event_source_mismatch_workers" in text
    assert dynamo_metrics.workers_without_kv_events(text) == 0
    if stack.isolation.private:  # the zmq event plane: one stream per publishing worker
        active = dynamo_metrics.total(text, "dynamo_component_router_kv_zmq_ingress_sources",
                                      state="active")
        assert active >= len(run.started.workers["prefill"])


def test_a_worker_without_kv_events_is_reported(run: Run, stack: LocalStack) -> None:
    """The other side of the proof: a prefill worker whose manifest lacks --kv-events-config
    publishes none locally either, and the KV router reports it (so a manifest that dropped
    the setting would fail the test above)."""
    container = copy.deepcopy(_container(run, "prefill"))
    args = container["args"]
    index = args.index("--kv-events-config")
    del args[index:index + 2]
    command = stack.start("prefill-without-kv-events", container)
    assert "--no-enable-prefix-caching" in command.argv
    stack.wait_ready(["prefill-without-kv-events"])
    text = _wait_metrics(stack, lambda t: dynamo_metrics.workers_without_kv_events(t) >= 1)
    assert dynamo_metrics.workers_without_kv_events(text) == 1
    assert stack.group.stop(["prefill-without-kv-events"])["prefill-without-kv-events"] is not None


def test_nothing_listens_beyond_loopback(stack: LocalStack) -> None:
    from constructs_lib.tools.run_local import listening_sockets

    running = [p.pid for p in stack.group.processes if p.running()]
    listeners = listening_sockets(running)
    # Not vacuous: each of the four processes has at least one listener.
    assert {item.pid for item in listeners} >= set(running), listeners
    assert stack.beyond_loopback() == []
    if not stack.isolation.private:
        return
    # The zmq event plane binds 0.0.0.0 whatever DYN_EVENT_PLANE_HOST says; in the private
    # namespace (only lo) that is loopback, and nothing of it exists in the caller's namespace.
    wildcard = {item.port for item in listeners if item.address in ("0.0.0.0", "::")}
    assert wildcard, "expected the zmq event plane's sockets on 0.0.0.0"
    for pid in running:
        assert netns.namespace_id(pid) != stack.isolation.outer_namespace
        assert netns.interfaces(pid) == ["lo"]
    # pytest's parent process lives in the namespace the test came from.
    assert netns.namespace_id(os.getppid()) == stack.isolation.outer_namespace
    outside = {port for _, port in _listening_inodes(str(os.getppid())).values()}
    assert not wildcard & outside


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
