"""Startup, readiness and liveness probes for Dynamo v0.1 containers.

What Dynamo v0.1 (`dynamo serve`) offers to probe, and so what each probe means here:
- The Frontend's `http` binary serves `GET /v1/models`, `POST /v1/chat/completions` and
  `/metrics` on the serve port; there is no health endpoint before Dynamo 0.3. It answers
  within seconds of the pod starting, long before the vLLM workers have loaded the model, and it
  keeps answering while the GPUs are busy (it is a separate async process).
  - startup: a one-token chat completion (or, if asked, `/v1/models` listing the model), so the
    pod is ready only once the whole graph can answer. The budget covers loading a 70B model.
  - readiness: `/v1/models` lists the served model (the model is registered and the HTTP server
    routes to it); cheap, so it never competes with real requests.
  - liveness: `GET /v1/models`, with a long failure budget, so a busy pod is not killed.
- The Processor, Router and vLLM workers, and so the prefill pods, listen on no port at all
  (they talk over NATS and etcd). Their probes check that the `dynamo serve` worker processes
  are running; `dynamo serve`'s process manager restarts a crashed worker, and the long failure
  budget gives it time to.

The exec probes use only bash (its /dev/tcp) and /proc, which every Dynamo image has.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..model.hardening import ProbeSettings

STARTUP_PERIOD = 10
# A completion probe must end within its period, or the kubelet skips ticks and the startup
# budget (period x failures) stretches by the probe's timeout.
COMPLETION_PERIOD = 30
COMPLETION_TIMEOUT = 25
READINESS_PERIOD = 10
LIVENESS_PERIOD = 30

# $1: port, $2: the JSON-encoded model id to find, or "" for any model.
MODELS_LISTED = r"""exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
printf 'GET /v1/models HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r -d '' -t 8 -u 3 reply
[[ $reply == HTTP/1.[01]" 200"* && $reply == *'"id":'"$2"* ]]
"""

# $1: port, $2: the JSON request body. HTTP/1.0, so the reply ends when the server closes.
COMPLETION_ANSWERED = r"""LC_ALL=C
exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
headers='Host: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n'
printf "POST /v1/chat/completions HTTP/1.0\r\n$headers\r\n%s" "${#2}" "$2" >&3
IFS= read -r -d '' -t 20 -u 3 reply
[[ $reply == HTTP/1.[01]" 200"* ]]
"""

# A process whose command line names dynamo serve's worker entry point. The pattern is written
# as serve[_]dynamo so that this probe's own command line (and a concurrent probe's) does not
# match it.
WORKERS_RUNNING = r"""for cmdline in /proc/[0-9]*/cmdline; do
  [[ $cmdline == "/proc/$$/cmdline" ]] && continue
  mapfile -d '' -t argv < "$cmdline" 2>/dev/null || continue
  [[ "${argv[*]}" == *serve[_]dynamo* ]] && exit 0
done
exit 1
"""


def _exec(script: str, name: str, *args: str) -> dict[str, Any]:
    return {"exec": {"command": ["bash", "-c", script, name, *args]}}


def _timing(period: int, timeout: int, failures: int) -> dict[str, int]:
    return {"periodSeconds": period, "timeoutSeconds": timeout, "failureThreshold": failures,
            "successThreshold": 1}


def _failures(budget_seconds: int, period: int) -> int:
    return max(1, math.ceil(budget_seconds / period))


def models_listed(port: int, served_model_name: str | None) -> dict[str, Any]:
    model_id = json.dumps(served_model_name, ensure_ascii=False) if served_model_name else '"'
    return _exec(MODELS_LISTED, "models-listed", str(port), model_id)


def completion_answered(port: int, served_model_name: str | None) -> dict[str, Any]:
    body = json.dumps({
        "model": served_model_name or "",
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
        "stream": False,
    }, ensure_ascii=False, separators=(",", ":"))
    return _exec(COMPLETION_ANSWERED, "completion-answered", str(port), body)


def workers_running() -> dict[str, Any]:
    return _exec(WORKERS_RUNNING, "workers-running")


def frontend_probes(settings: ProbeSettings, *, port_name: str, port: int,
                    served_model_name: str | None) -> dict[str, Any]:
    """The probes of a container that runs the Frontend's HTTP server."""
    if not settings.enabled:
        return {}
    # Without a served model name there is nothing to ask a completion of.
    if settings.startup_check == "completion" and served_model_name:
        startup = completion_answered(port, served_model_name)
        period, timeout = COMPLETION_PERIOD, COMPLETION_TIMEOUT
    else:
        startup = models_listed(port, served_model_name)
        period, timeout = STARTUP_PERIOD, 10
    return {
        "startupProbe": {**startup, **_timing(
            period, timeout, _failures(settings.startup_timeout_seconds, period))},
        "readinessProbe": {**models_listed(port, served_model_name),
                           **_timing(READINESS_PERIOD, 10, 3)},
        "livenessProbe": {"httpGet": {"path": "/v1/models", "port": port_name},
                          **_timing(LIVENESS_PERIOD, 10,
                                    _failures(settings.liveness_timeout_seconds, LIVENESS_PERIOD))},
    }


def worker_probes(settings: ProbeSettings) -> dict[str, Any]:
    """The probes of a container that runs only Dynamo components without HTTP (prefill)."""
    if not settings.enabled:
        return {}
    return {
        "startupProbe": {**workers_running(), **_timing(
            STARTUP_PERIOD, 5, _failures(settings.startup_timeout_seconds, STARTUP_PERIOD))},
        "readinessProbe": {**workers_running(), **_timing(READINESS_PERIOD, 5, 3)},
        "livenessProbe": {**workers_running(), **_timing(
            LIVENESS_PERIOD, 5, _failures(settings.liveness_timeout_seconds, LIVENESS_PERIOD))},
    }


def metrics_probes(port_name: str) -> dict[str, Any]:
    """The `metrics` sidecar serves only GET /metrics, answering once it has registered."""
    probe = {"httpGet": {"path": "/metrics", "port": port_name}}
    return {
        "readinessProbe": {**probe, **_timing(READINESS_PERIOD, 5, 3)},
        "livenessProbe": {**probe, **_timing(LIVENESS_PERIOD, 5, 10)},
    }
