"""The Grafana dashboard: generated from the metric catalogue, loadable by Grafana's sidecar."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from constructs_lib._render import dashboards, metrics

SCOPE = metrics.MetricScope(namespace="dynamo", dynamo_namespace="rel-dynamo",
                            model="org/Model-70B")
AGGREGATED = metrics.MetricScope(namespace="dev", dynamo_namespace="dynamo-dev",
                                 model="Qwen/Qwen3-0.6B", disaggregated=False)
BOARDS = {
    "disaggregated": dashboards.dashboard("Dynamo rel", SCOPE),
    "aggregated-round-robin": dashboards.dashboard("Dynamo dev", AGGREGATED, kv_router=False),
}


@pytest.fixture(params=sorted(BOARDS))
def board(request: pytest.FixtureRequest) -> dict:
    return BOARDS[request.param]


def test_config_map_holds_valid_json_for_the_sidecar(board: dict) -> None:
    document = dashboards.dashboard_config_map(board, name="dynamo-rel", namespace="monitoring")
    for version in ("1.27.0", kubernetes_validate.latest_version()):
        kubernetes_validate.validate(document, version, strict=True)
    assert document["metadata"]["labels"] == {"grafana_dashboard": "1"}
    assert list(document["data"]) == ["dynamo-rel.json"]
    assert json.loads(document["data"]["dynamo-rel.json"]) == board


def test_sidecar_label_and_folder_are_configurable(board: dict) -> None:
    document = dashboards.dashboard_config_map(
        board, name="d", namespace="grafana", labels={"dashboards": "dynamo"}, folder="LLM")
    assert document["metadata"]["labels"] == {"dashboards": "dynamo"}
    assert document["metadata"]["annotations"] == {"grafana_folder": "LLM"}


def test_panel_ids_are_unique_and_the_grid_does_not_overlap(board: dict) -> None:
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= dashboards.GRID_WIDTH
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not mine & cells, panel["title"]
        cells |= mine


def test_every_query_reads_catalogued_metrics_of_this_deployment(board: dict) -> None:
    seen = 0
    for panel, target in dashboards.targets(board):
        expr = target["expr"]
        assert metrics.series_in(expr), f"{panel['title']}: no selector in {expr}"
        assert metrics.uncatalogued(expr) == set(), panel["title"]
        assert 'namespace="' in expr
        assert target["datasource"] == dashboards.DATASOURCE
        seen += 1
    refs = [[t["refId"] for t in p.get("targets", [])] for p in board["panels"]]
    assert all(len(r) == len(set(r)) for r in refs)
    assert seen >= 15


def test_the_panels_the_issue_asks_for() -> None:
    titles = {panel["title"] for panel in BOARDS["disaggregated"]["panels"]}
    assert {"Request rate", "Time to first token", "Inter-token latency",
            "Queue depth per stage", "KV cache usage", "Workers per role",
            "Prefill/decode balance"} <= titles
    exprs = [t["expr"] for _, t in dashboards.targets(BOARDS["disaggregated"])]
    for q in ("0.5", "0.95", "0.99"):
        assert any(f"histogram_quantile({q}, sum by (le) (rate("
                   "dynamo_frontend_time_to_first_token_seconds_bucket" in e for e in exprs)
        assert any(f"histogram_quantile({q}, sum by (le) (rate("
                   "dynamo_frontend_inter_token_latency_seconds_bucket" in e for e in exprs)
    assert any('dynamo_component="prefill"' in e for e in exprs)
    assert any('dynamo_component="backend"' in e for e in exprs)


def test_aggregated_without_kv_router_has_no_empty_panels() -> None:
    exprs = [t["expr"] for _, t in dashboards.targets(BOARDS["aggregated-round-robin"])]
    assert not any("worker_active" in e or 'phase="prefill"' in e for e in exprs)
    assert not any('dynamo_component="prefill"' in e for e in exprs)
    assert any('phase="aggregated"' in e for e in exprs)
    assert any('dynamo_namespace="dynamo_dev"' in e for e in exprs)


def test_uid_is_stable_and_short() -> None:
    again = dashboards.dashboard("Dynamo rel", SCOPE)
    assert again == BOARDS["disaggregated"]
    assert len(again["uid"]) <= 40
    assert dashboards.dashboard("Dynamo rel", SCOPE, uid="mine")["uid"] == "mine"


def test_datasource_is_a_variable(board: dict) -> None:
    variable = board["templating"]["list"][0]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource", "datasource", "prometheus")
