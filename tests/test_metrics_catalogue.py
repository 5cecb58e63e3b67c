"""The metric catalogue: selectors, label filters and the name checks the other tests rely on."""

from __future__ import annotations

import pytest

from constructs_lib._render import metrics

SCOPE = metrics.MetricScope(namespace="ns", dynamo_namespace="rel-dynamo", model="m",
                            frontend_matchers={"service": "rel-frontend"})


def test_dynamo_namespace_label_is_sanitized_like_the_runtime() -> None:
    # Measured on 1.6.1: DYN_NAMESPACE deepseek-r1-llama-70b-dynamo is labelled with '_'.
    assert metrics.dynamo_namespace_label("deepseek-r1-llama-70b-dynamo") == (
        "deepseek_r1_llama_70b_dynamo")


def test_selectors_filter_on_the_labels_each_metric_has() -> None:
    assert str(metrics.select(metrics.STAGE_REQUESTS, SCOPE, stage="dispatch")) == (
        'dynamo_frontend_stage_requests{namespace="ns",service="rel-frontend",stage="dispatch"}')
    assert str(metrics.select(metrics.INFLIGHT_REQUESTS, SCOPE)) == (
        'dynamo_frontend_inflight_requests{namespace="ns",service="rel-frontend",model="m"}')
    worker = metrics.select(metrics.COMPONENT_INFLIGHT_REQUESTS, SCOPE, dynamo_component="prefill")
    assert str(worker) == ('dynamo_component_inflight_requests{namespace="ns",'
                           'dynamo_namespace="rel_dynamo",dynamo_component="prefill"}')


def test_selectors_refuse_what_the_runtime_does_not_export() -> None:
    with pytest.raises(ValueError, match="has no label"):
        metrics.select(metrics.STAGE_REQUESTS, SCOPE, model="m")
    with pytest.raises(ValueError, match="is a histogram"):
        metrics.select(metrics.TIME_TO_FIRST_TOKEN, SCOPE)
    with pytest.raises(ValueError, match="is a gauge"):
        metrics.select(metrics.STAGE_REQUESTS, SCOPE, "_bucket")


def test_label_values_are_escaped() -> None:
    scope = metrics.MetricScope(namespace="ns", dynamo_namespace="d", model='a"b\\c')
    assert 'model="a\\"b\\\\c"' in str(metrics.select(metrics.INFLIGHT_REQUESTS, scope))


def test_series_names_and_families() -> None:
    expr = metrics.ttft_quantile(SCOPE, 0.95, "5m").expr
    assert metrics.series_in(expr) == {"dynamo_frontend_time_to_first_token_seconds_bucket"}
    assert metrics.family("dynamo_frontend_time_to_first_token_seconds_bucket") == (
        metrics.TIME_TO_FIRST_TOKEN.name)
    assert metrics.uncatalogued(expr) == set()
    assert metrics.uncatalogued('vllm:kv_cache_usage_perc{x="1"}') == {"vllm:kv_cache_usage_perc"}
    # A counter's name ending in _count is not mistaken for a histogram's.
    assert metrics.family("dynamo_frontend_detokenize_token_count") == (
        "dynamo_frontend_detokenize_token_count")


def test_aggregated_scope_names_the_aggregated_phase() -> None:
    scope = metrics.MetricScope(namespace="ns", dynamo_namespace="d", model="m",
                                disaggregated=False)
    assert 'phase="aggregated"' in metrics.dispatch_queue(scope, "decode").expr
    assert 'worker_type="aggregated"' in metrics.kv_cache_usage(scope).expr


def test_catalogue_names_are_unique_and_typed() -> None:
    assert len(metrics.BY_NAME) == len(metrics.CATALOGUE)
    for metric in metrics.CATALOGUE:
        prefix = "dynamo_frontend_" if metric.source == "frontend" else "dynamo_component_"
        assert metric.name.startswith(prefix), metric.name
        # requests_total's own `endpoint` (chat_completions) clashes with prometheus-operator's
        # target label of that name, which renames it `exported_endpoint`: never filtered on.
        assert metric.labels & metrics.TARGET_LABELS <= {"endpoint"}, metric.name
    with pytest.raises(ValueError, match="clashes with a label Prometheus sets"):
        metrics.select(metrics.REQUESTS_TOTAL, SCOPE, endpoint="chat_completions")


def test_quantile_bounds() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        metrics.ttft_quantile(SCOPE, 95, "5m")


def test_the_live_check_catches_a_wrong_name_or_label_value() -> None:
    # tests/e2e compares every selector with a scrape like this one: not vacuous.
    from tests.support.exposition import Exposition, unmatched

    scrape = Exposition.parse(
        "# TYPE dynamo_component_inflight_requests gauge\n"
        'dynamo_component_inflight_requests{dynamo_component="prefill",dynamo_endpoint="generate"'
        ',dynamo_namespace="rel_dynamo",worker_id="7"} 0\n')
    assert scrape.types == {"dynamo_component_inflight_requests": "gauge"}
    good = metrics.worker_count(SCOPE, "prefill").expr
    ignore = metrics.TARGET_LABELS
    assert unmatched([good], [scrape], ignore) == []
    raw = metrics.MetricScope(namespace="ns", dynamo_namespace="rel_other", model="m")
    assert unmatched([metrics.worker_count(raw, "prefill").expr], [scrape], ignore)
    assert unmatched([metrics.worker_count(SCOPE, "decode").expr], [scrape], ignore)
    assert unmatched(['dynamo_component_inflight{dynamo_component="prefill"}'], [scrape], ignore)
