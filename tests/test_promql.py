"""The PromQL of the autoscalers and the dashboard, checked by Prometheus' own promtool: every
expression parses, and the signals compute what they claim on series shaped like the runtime's
(label names and values as the end-to-end test measures them, plus Prometheus' target labels).

Needs promtool (scripts/install-promtool.sh, run by `scripts/setup.sh --with-test-services`);
skipped without it, an error instead when DYNAMO_E2E_REQUIRED=1 (CI: every test tool present).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from constructs_lib._render import autoscaling, dashboards, metrics
from constructs_lib.model.autoscaling import DecodeAutoscaling, PrefillAutoscaling

REPO = Path(__file__).resolve().parents[1]


def _promtool() -> str | None:
    local = Path(os.environ.get("PROMTOOL_DIR") or REPO / ".tools" / "promtool") / "promtool"
    return str(local) if local.exists() else shutil.which("promtool")


PROMTOOL = _promtool()
if PROMTOOL is None and os.environ.get("DYNAMO_E2E_REQUIRED") == "1":
    raise RuntimeError("promtool missing: run scripts/install-promtool.sh")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: run "
                                "scripts/install-promtool.sh")

NS = "dynamo"
SCOPE = metrics.MetricScope(namespace=NS, dynamo_namespace="rel-dynamo", model="m")
AGGREGATED = metrics.MetricScope(namespace=NS, dynamo_namespace="dev", model="m",
                                 disaggregated=False)
SETTINGS = [
    ("prefill", PrefillAutoscaling(signal="dispatch_queue")),
    ("prefill", PrefillAutoscaling(signal="ttft_p95")),
    ("decode", DecodeAutoscaling(signal="itl_p95")),
    ("decode", DecodeAutoscaling(signal="kv_cache_usage")),
]


def _all_expressions() -> list[str]:
    exprs = [autoscaling.signal_query(role, settings, scope).expr
             for scope in (SCOPE, AGGREGATED) for role, settings in SETTINGS]
    for board in (dashboards.dashboard("d", SCOPE), dashboards.dashboard("a", AGGREGATED)):
        # Grafana replaces $__rate_interval before Prometheus sees the query.
        exprs += [t["expr"].replace(dashboards.RATE, "2m") for _, t in dashboards.targets(board)]
    return exprs


def _run(tmp_path: Path, command: str,
         document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    file = tmp_path / f"{command}.yaml"
    file.write_text(yaml.safe_dump(document, sort_keys=False, width=1000))
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, "check" if command == "check" else "test", "rules",
                           str(file)], capture_output=True, text=True, timeout=60)


def _rules(exprs: list[str]) -> dict[str, Any]:
    return {"groups": [{"name": "dynamo", "rules": [
        {"record": f"dynamo:query{index}", "expr": expr} for index, expr in enumerate(exprs)]}]}


def test_every_expression_parses(tmp_path: Path) -> None:
    exprs = _all_expressions()
    result = _run(tmp_path, "check", _rules(exprs))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_a_broken_expression_is_caught(tmp_path: Path) -> None:
    result = _run(tmp_path, "check", _rules(["sum(rate(x{a=\"b\"}[5m])"]))
    assert result.returncode != 0


# Series as the runtime exports them (tests/e2e measures the names, labels and values), with the
# target labels Prometheus adds. Two frontend pods; another namespace that must not count.
def _frontend(name: str, pod: str = "frontend-a", namespace: str = NS, **labels: str) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in {"namespace": namespace, "pod": pod,
                                                 **labels}.items())
    return f"{name}{{{inner}}}"


def _worker(name: str, component: str, worker: str, endpoint: str = "generate") -> str:
    return _frontend(name, pod=f"worker-{worker}", dynamo_namespace="rel_dynamo",
                     dynamo_component=component, dynamo_endpoint=endpoint, worker_id=worker)


def _histogram(name: str, per_minute: dict[str, int], model: str) -> list[dict[str, str]]:
    return [{"series": _frontend(f"{name}_bucket", model=model, le=le),
             "values": f"0+{count}x20"} for le, count in per_minute.items()]


TTFT = "dynamo_frontend_time_to_first_token_seconds"
SERIES: list[dict[str, str]] = [
    # Dispatch queue: 3 + 1 prefill requests on two frontends; decode and elsewhere excluded.
    {"series": _frontend("dynamo_frontend_stage_requests", stage="dispatch", phase="prefill"),
     "values": "3x20"},
    {"series": _frontend("dynamo_frontend_stage_requests", pod="frontend-b", stage="dispatch",
                         phase="prefill"), "values": "1x20"},
    {"series": _frontend("dynamo_frontend_stage_requests", stage="dispatch", phase="decode"),
     "values": "7x20"},
    {"series": _frontend("dynamo_frontend_stage_requests", namespace="other", stage="dispatch",
                         phase="prefill"), "values": "100x20"},
    # TTFT: per minute 64 requests under 0.5 s, 96 under 1 s, 128 under 2.5 s, of 128: the
    # 95th percentile falls in (1, 2.5], 121.6 - 96 = 25.6 of its 32, so 1 + 1.5 * 0.8 = 2.2.
    *_histogram(TTFT, {"0.5": 64, "1": 96, "2.5": 128, "+Inf": 128}, "m"),
    {"series": _frontend("dynamo_frontend_model_ready", model="m"), "values": "1x20"},
    # An idle model: served, no request finished (quantile NaN, read as 0).
    *_histogram(TTFT, {"1": 0, "+Inf": 0}, "idle"),
    {"series": _frontend("dynamo_frontend_model_ready", model="idle"), "values": "1x20"},
    # KV router's view: worker 1 has 100 + 50 blocks (two frontends), worker 2 300, of 1000;
    # the prefill worker's decode blocks do not count.
    {"series": _frontend("dynamo_frontend_worker_active_decode_blocks", worker_id="1",
                         dp_rank="0", worker_type="decode"), "values": "100x20"},
    {"series": _frontend("dynamo_frontend_worker_active_decode_blocks", pod="frontend-b",
                         worker_id="1", dp_rank="0", worker_type="decode"), "values": "50x20"},
    {"series": _frontend("dynamo_frontend_worker_active_decode_blocks", worker_id="2",
                         dp_rank="0", worker_type="decode"), "values": "300x20"},
    {"series": _frontend("dynamo_frontend_worker_active_decode_blocks", worker_id="3",
                         dp_rank="0", worker_type="prefill"), "values": "999x20"},
    {"series": _frontend("dynamo_frontend_model_total_kv_blocks", model="m"),
     "values": "1000x20"},
    # Workers: two prefill (plus an internal endpoint that is not a worker), one decode.
    {"series": _worker("dynamo_component_inflight_requests", "prefill", "p1"), "values": "2x20"},
    {"series": _worker("dynamo_component_inflight_requests", "prefill", "p2"), "values": "4x20"},
    {"series": _worker("dynamo_component_inflight_requests", "prefill", "p1",
                       endpoint="worker_kv_query_source_1"), "values": "9x20"},
    {"series": _worker("dynamo_component_inflight_requests", "backend", "d1"), "values": "8x20"},
]


def _expect(expr: str, value: float | None) -> dict[str, Any]:
    samples = [] if value is None else [{"labels": "{}", "value": value}]
    return {"expr": expr, "eval_time": "10m", "exp_samples": samples}


def test_signals_compute_what_they_claim(tmp_path: Path) -> None:
    idle = metrics.MetricScope(namespace=NS, dynamo_namespace="rel-dynamo", model="idle")
    gone = metrics.MetricScope(namespace=NS, dynamo_namespace="rel-dynamo", model="gone")
    ttft = PrefillAutoscaling(signal="ttft_p95")
    kv = DecodeAutoscaling(signal="kv_cache_usage")
    tests = [
        _expect(autoscaling.signal_query("prefill", PrefillAutoscaling(), SCOPE).expr, 4),
        # Rates are extrapolated: compare in milliseconds.
        _expect(f"round(1000 * ({autoscaling.signal_query('prefill', ttft, SCOPE).expr}))", 2200),
        _expect(autoscaling.signal_query("prefill", ttft, idle).expr, 0),
        # No frontend scraped: no value, so KEDA and the HPA keep the replicas.
        _expect(autoscaling.signal_query("prefill", ttft, gone).expr, None),
        _expect(autoscaling.signal_query("decode", kv, SCOPE).expr, 0.225),
        _expect(metrics.worker_count(SCOPE, "prefill").expr, 2),
        _expect(metrics.worker_count(SCOPE, "decode").expr, 1),
        _expect(metrics.inflight_per_worker(SCOPE, "prefill").expr, 3),
    ]
    document = {"rule_files": [], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": SERIES, "promql_expr_test": tests}]}
    result = _run(tmp_path, "test", document)
    assert result.returncode == 0, result.stdout + result.stderr
