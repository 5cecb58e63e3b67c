"""tests/support/dynamo_metrics.py on lines a 1.6.1 frontend (router mode kv) exported in a local
run with a mock engine (docs/dynamo-1x-runtime.md)."""

from __future__ import annotations

from tests.support.dynamo_metrics import kv_blocks_stored, samples, workers_without_kv_events

_APPLIED = "dynamo_component_kv_cache_events_applied"
_MISMATCH = "dynamo_component_router_kv_event_source_mismatch_workers"
_IDS = 'dynamo_component="backend",dynamo_namespace="t",worker_id="6a6ca2294868f806"'
_TARGET = ('model="org/tiny",target_component="backend",target_endpoint="generate",'
           'target_namespace="t"')

# one worker publishing KV events, after a request of more than one KV block
RECEIVING = f"""\
# TYPE {_APPLIED} counter
{_APPLIED}{{{_IDS},event_type="stored",status="block_not_found"}} 0
{_APPLIED}{{{_IDS},event_type="stored",status="ok"}} 1
{_APPLIED}{{{_IDS},event_type="removed",status="ok"}} 0
# TYPE {_MISMATCH} gauge
{_MISMATCH}{{{_IDS},{_TARGET},worker_type="decode"}} 0
"""
# a second worker joined with KV events off (the mocker with --no-enable-prefix-caching)
BLIND = RECEIVING.replace('worker_type="decode"} 0', 'worker_type="decode"} 1')


def test_stored_blocks_count_only_successful_stores() -> None:
    assert kv_blocks_stored(RECEIVING) == 1
    assert workers_without_kv_events(RECEIVING) == 0


def test_a_worker_without_kv_events_shows() -> None:
    assert workers_without_kv_events(BLIND) == 1


def test_labels_are_parsed() -> None:
    stored = [s for s in samples(RECEIVING) if s.labels.get("status") == "ok"
              and s.labels.get("event_type") == "stored"]
    assert [s.labels["dynamo_namespace"] for s in stored] == ["t"]
