"""The init container that holds Dynamo back until etcd and NATS, those of them it uses, answer.

Dynamo v0.1 connects to etcd and NATS once, at start, and exits when they do not answer; a pod
started together with its dependencies then crash-loops until they are up (ai-dynamo/dynamo#1699,
where users add exactly this kind of init container). The check runs in the Dynamo image itself
(bash and coreutils; no extra image to pull or trust) and reads the same ETCD_ENDPOINTS and
NATS_SERVER as Dynamo, so external endpoints are waited for just the same.
"""

from __future__ import annotations

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
SCRIPT = r"""set -u -f
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
etcd=${ETCD_ENDPOINTS:?ETCD_ENDPOINTS is not set}
nats=${NATS_SERVER:?NATS_SERVER is not set}
etcd_up= nats_up= report_at=0
while :; do
  if [[ -z $etcd_up ]] && answered=$(first_answering etcd_answers "$etcd"); then
    etcd_up=1; echo "etcd answers at $answered"
  fi
  if [[ -z $nats_up ]] && answered=$(first_answering nats_answers "$nats"); then
    nats_up=1; echo "NATS answers at $answered"
  fi
  if [[ -n $etcd_up && -n $nats_up ]]; then exit 0; fi
  waiting=$([[ -z $etcd_up ]] && printf 'etcd (%s) ' "$(without_credentials "$etcd")"
            [[ -z $nats_up ]] && printf 'NATS (%s)' "$(without_credentials "$nats")")
  remaining=$((deadline - SECONDS))
  if (( remaining <= 0 )); then
    echo "gave up after $1 s waiting for $waiting" >&2; exit 1
  fi
  if (( SECONDS >= report_at )); then
    echo "waiting for $waiting"; report_at=$((SECONDS + 30))
  fi
  sleep $(( remaining < 2 ? remaining : 2 ))
done
"""


# Dynamo 1.x on the tcp request plane and zmq event plane uses no NATS: wait for etcd alone.
_ETCD_ONLY = {
    "nats=${NATS_SERVER:?NATS_SERVER is not set}\n": "",
    "etcd_up= nats_up= report_at=0": "etcd_up= report_at=0",
    """  if [[ -z $nats_up ]] && answered=$(first_answering nats_answers "$nats"); then
    nats_up=1; echo "NATS answers at $answered"
  fi
""": "",
    "if [[ -n $etcd_up && -n $nats_up ]]; then exit 0; fi":
        "if [[ -n $etcd_up ]]; then exit 0; fi",
    """  waiting=$([[ -z $etcd_up ]] && printf 'etcd (%s) ' "$(without_credentials "$etcd")"
            [[ -z $nats_up ]] && printf 'NATS (%s)' "$(without_credentials "$nats")")""":
        '  waiting="etcd ($(without_credentials "$etcd"))"',
}


# Dynamo 1.x with kubernetes discovery and a plane on NATS uses no etcd: wait for NATS alone.
_NATS_ONLY = {
    "etcd=${ETCD_ENDPOINTS:?ETCD_ENDPOINTS is not set}\n": "",
    "etcd_up= nats_up= report_at=0": "nats_up= report_at=0",
    """  if [[ -z $etcd_up ]] && answered=$(first_answering etcd_answers "$etcd"); then
    etcd_up=1; echo "etcd answers at $answered"
  fi
""": "",
    "if [[ -n $etcd_up && -n $nats_up ]]; then exit 0; fi":
        "if [[ -n $nats_up ]]; then exit 0; fi",
    """  waiting=$([[ -z $etcd_up ]] && printf 'etcd (%s) ' "$(without_credentials "$etcd")"
            [[ -z $nats_up ]] && printf 'NATS (%s)' "$(without_credentials "$nats")")""":
        '  waiting="NATS ($(without_credentials "$nats"))"',
}


def script(*, etcd: bool = True, nats: bool) -> str:
    """The wait, for etcd and NATS, or for either alone."""
    if not (etcd or nats):
        raise ValueError("a wait for neither etcd nor NATS waits for nothing")
    if etcd and nats:
        return SCRIPT
    changes, name = (_ETCD_ONLY, "_ETCD_ONLY") if etcd else (_NATS_ONLY, "_NATS_ONLY")
    text = SCRIPT
    for old, new in changes.items():
        if old not in text:
            raise AssertionError(f"the wait script changed; update {name} ({old[:40]!r})")
        text = text.replace(old, new)
    return text


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
