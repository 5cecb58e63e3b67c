"""Reading a Dynamo 1.x `/metrics` page in a test: did the KV router receive the workers' KV
events? (docs/dynamo-1x-runtime.md, "KV events", says how this was measured with 1.6.1.)

On the frontend (router mode kv):
- ``dynamo_component_kv_cache_events_applied{event_type="stored",status="ok"}`` counts the KV
  blocks the router's indexer stored from worker events: above zero once a request longer than
  one KV block (the worker's block size in tokens) has run.
- ``dynamo_component_router_kv_event_source_mismatch_workers`` is 1 for a serving worker whose
  role needs KV events and that publishes none (a vLLM worker without ``--kv-events-config``);
  the frontend logs ``diagnostic_code="kv_event_publisher_disabled"`` then.
- ``dynamo_component_router_kv_zmq_ingress_sources{state="active"}``: worker KV event streams
  the router subscribed to (ZMQ event plane).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def samples(text: str) -> list[Sample]:
    """The samples of a Prometheus text exposition (comments skipped)."""
    found = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        found.append(Sample(match.group(1), dict(_LABEL.findall(match.group(2) or "")),
                            float(match.group(3))))
    return found


def total(text: str, name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels`."""
    return sum(s.value for s in samples(text)
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def kv_blocks_stored(frontend_metrics: str) -> float:
    """KV blocks the frontend's router stored from worker KV events."""
    return total(frontend_metrics, "dynamo_component_kv_cache_events_applied",
                 event_type="stored", status="ok")


def workers_without_kv_events(frontend_metrics: str) -> float:
    """Serving workers whose KV events the router needs but does not get."""
    return total(frontend_metrics, "dynamo_component_router_kv_event_source_mismatch_workers")
