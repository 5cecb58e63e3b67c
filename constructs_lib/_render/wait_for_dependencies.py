"""The init container that holds Dynamo back until etcd and NATS, those of them it uses, answer.

Dynamo v0.1 connects to etcd and NATS once, at start, and exits when they do not answer; a pod
started together with its dependencies then crash-loops until they are up (ai-dynamo/dynamo#1699,
where users add exactly this kind of init container). The check runs in the Dynamo image itself
(bash and coreutils; no extra image to pull or trust) and reads the same ETCD_ENDPOINTS and
NATS_SERVER as Dynamo, so external endpoints are waited for just the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .escape_hatches import restrict_container

NAME = "wait-for-dependencies"
# Any UID works for bash and /dev/tcp; none of the image's files need to be written.
RUN_AS_USER = 65534
RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"},
             "limits": {"cpu": "100m", "memory": "64Mi"}}

# $1: seconds to wait in total. etcd must answer GET /health with "health":"true" (plain HTTP
# on the client port), NATS must send its INFO greeting; one endpoint of each list suffices, as
# for Dynamo's clients. An https:// etcd only has to accept the connection: bash speaks no TLS.
# Each attempt is bounded by `timeout`, because a connect to a black-holed address waits minutes.
_FUNCTIONS = r"""set -u -f
deadline=$((SECONDS + $1))
split_endpoint() {
  local rest=${1#*://}
  rest=${rest##*@}
  rest=${rest%%/*}
  if [[ $rest == \[* ]]; then
    host=${rest%%]*}; host=${host#\[}; port=${rest#*]}; port=${port#:}
  elif [[ $rest == *:* ]]; then
    host=${rest%:*}; port=${rest##*:}
  else
    host=$rest; port=
  fi
  port=${port:-$2}
}
etcd_answers() {
  split_endpoint "$1" 2379
  if [[ $1 == https://* ]]; then
    timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
    return
  fi
  local reply
  reply=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "GET /health HTTP/1.0\r\nHost: %s\r\n\r\n" "$0" >&3
    IFS= read -r -d "" -u 3 body; printf %s "$body"' "$host" "$port" 2>/dev/null)
  [[ $reply == *'"health":"true"'* ]]
}
nats_answers() {
  split_endpoint "$1" 4222
  local greeting
  greeting=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1
    IFS= read -r -u 3 line; printf %s "$line"' "$host" "$port" 2>/dev/null)
  [[ $greeting == "INFO "* ]]
}
first_answering() {
  local check=$1 endpoint IFS=,
  for endpoint in $2; do
    if "$check" "$endpoint"; then echo "$host:$port"; return 0; fi
  done
  return 1
}
without_credentials() {
  local endpoint shown=() IFS=,
  for endpoint in $1; do
    if [[ $endpoint == *://*@* ]]; then endpoint="${endpoint%%://*}://${endpoint##*@}"
    elif [[ $endpoint == *@* ]]; then endpoint=${endpoint##*@}
    fi
    shown+=("$endpoint")
  done
  printf %s "${shown[*]}"
}
"""

# What follows the wait: the report, the deadline and the pause between attempts.
_UNTIL_DEADLINE = r"""  remaining=$((deadline - SECONDS))
  if (( remaining <= 0 )); then
    echo "gave up after $1 s waiting for $waiting" >&2; exit 1
  fi
  if (( SECONDS >= report_at )); then
    echo "waiting for $waiting"; report_at=$((SECONDS + 30))
  fi
  sleep $(( remaining < 2 ? remaining : 2 ))
done
"""


@dataclass(frozen=True)
class _Dependency:
    variable: str
    """The shell variable holding its endpoints, and the prefix of its check function."""
    environment: str
    """The variable Dynamo reads its endpoints from."""
    label: str


_ETCD = _Dependency("etcd", "ETCD_ENDPOINTS", "etcd")
_NATS = _Dependency("nats", "NATS_SERVER", "NATS")


def script(*, etcd: bool = True, nats: bool) -> str:
    """The wait, for etcd and NATS, or for either alone."""
    waited = [dependency for dependency, wanted in ((_ETCD, etcd), (_NATS, nats)) if wanted]
    if not waited:
        raise ValueError("a wait for neither etcd nor NATS waits for nothing")
    lines = [f"{d.variable}=${{{d.environment}:?{d.environment} is not set}}" for d in waited]
    lines.append(" ".join(f"{d.variable}_up=" for d in waited) + " report_at=0")
    lines.append("while :; do")
    for d in waited:
        lines += [f"  if [[ -z ${d.variable}_up ]] && answered=$(first_answering "
                  f'{d.variable}_answers "${d.variable}"); then',
                  f'    {d.variable}_up=1; echo "{d.label} answers at $answered"',
                  "  fi"]
    lines.append(f"  if [[ {' && '.join(f'-n ${d.variable}_up' for d in waited)} ]]; "
                 "then exit 0; fi")
    if len(waited) == 1:
        [d] = waited
        lines.append(f'  waiting="{d.label} ($(without_credentials "${d.variable}"))"')
    else:
        # Each still-silent dependency, in one line.
        parts = [f"[[ -z ${d.variable}_up ]] && printf '{d.label} (%s)"
                 f"{' ' if d is not waited[-1] else ''}' "
                 f'"$(without_credentials "${d.variable}")"' for d in waited]
        lines.append("  waiting=$(" + f"\n{' ' * 12}".join(parts) + ")")
    return _FUNCTIONS + "\n".join(lines) + "\n" + _UNTIL_DEADLINE




def container(*, image: str, pull_policy: str, env: list[dict[str, Any]],
              timeout_seconds: int) -> dict[str, Any]:
    """The init container, waiting for what `env` names (ETCD_ENDPOINTS, NATS_SERVER)."""
    names = {variable["name"] for variable in env}
    init: dict[str, Any] = {
        "name": NAME,
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": ["bash", "-c", script(etcd="ETCD_ENDPOINTS" in names,
                                         nats="NATS_SERVER" in names),
                    NAME, str(timeout_seconds)],
        "env": env,
        "resources": {kind: dict(values) for kind, values in RESOURCES.items()},
    }
    restrict_container(init, read_only_root_filesystem=True, run_as_user=RUN_AS_USER)
    return init
