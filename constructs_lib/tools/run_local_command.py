"""`python -m constructs_lib run-local ENVIRONMENT`: smoke-test a 1.x environment locally."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, Problem

if TYPE_CHECKING:
    from .run_local import LocalStack
    from .run_local.netns import Isolation
    from .run_local.synthesized import WorkerPool


def run(args: argparse.Namespace, environment_path: Path) -> int:
    from .run_local import netns

    # Into the private network namespace first: through a user namespace (no root) that needs
    # a single-threaded process, and loading the environments starts jsii's threads.
    network: contextlib.AbstractContextManager[Isolation]
    if args.host_network:
        network = contextlib.nullcontext(
            netns.Isolation(False, "--host-network", netns.namespace_id()))
    else:
        network = netns.private_network(allow_user_namespace=True)
    with network as isolation:
        return _run(args, environment_path, isolation)


def _run(args: argparse.Namespace, environment_path: Path, isolation: Isolation) -> int:
    from ..model.dynamo_v1 import EnvironmentV1
    from . import synth
    from .run_local import (
        ClientError,
        LocalStack,
        ProcessError,
        control_plane,
        dynamo_python,
        groups,
    )
    from .run_local.synthesized import (
        check_kv_events,
        instances,
        read_manifests,
        router_uses_kv_events,
        smoke_test,
        start,
        worker_pools,
    )

    environments = synth.load_all([environment_path])
    name, environment = next(iter(environments.items()))
    if not isinstance(environment, EnvironmentV1):
        raise ConfigError([Problem(str(environment_path), "dynamo",
                                   f"run-local runs Dynamo 1.x environments; this one is "
                                   f"{environment.dynamo.value}")])
    replicas = None if args.replicas == "all" else int(args.replicas)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dynamo-run-local-") as workdir:
        synth.synthesize(environments, Path(workdir) / "dist", output_format="manifests")
        documents = read_manifests(Path(workdir) / "dist" / name)
        pools = worker_pools(documents)
        refusals = _cannot_run(pools, Path(workdir) / "check", str(environment_path))
        kubernetes = control_plane.plan(documents)
        if kubernetes is not None:
            refusals += [Problem(str(environment_path), "runtime.discovery", problem)
                         for problem in kubernetes.problems]
        if refusals:
            raise ConfigError(refusals)
        mismatches = [f"{component}: LeaderWorkerSet {pool.name}: followers: {problem}"
                      for component, pool in sorted(pools.items()) if pool.is_group
                      for problem in groups.check_followers(pool.workload)]
        if mismatches:
            for mismatch in mismatches:
                print(f"run-local: {mismatch}", file=sys.stderr)
            return 1
        python = dynamo_python()
        if not python.exists():
            print(f"run-local: the Dynamo runtime is not installed ({python}); "
                  "run scripts/install-dynamo-runtime.sh", file=sys.stderr)
            return 1
        with LocalStack(Path(workdir) / "run", python=str(python), timeout=args.timeout,
                        network=isolation) as stack:
            if kubernetes is not None:
                try:
                    stack.start_control_plane(kubernetes)
                except control_plane.ControlPlaneUnavailable as exc:
                    print(f"run-local: {name}: {exc}", file=sys.stderr)
                    return 2
            fallback = stack.fallback_message()
            if fallback:
                print(f"run-local: {fallback}", file=sys.stderr)
            broken = None
            try:
                started = start(stack, documents, replicas=replicas)
                result = smoke_test(started, timeout=args.timeout)
            except (ProcessError, ClientError, TimeoutError, AssertionError) as exc:
                broken = f"{name}: {exc}"
            else:
                known = instances(started)
                kv = None
                if router_uses_kv_events(started):
                    try:
                        kv = check_kv_events(started, timeout=args.timeout)
                    except AssertionError as exc:
                        failures.append(str(exc))
                failures += stack.beyond_loopback()
        if broken is not None:
            # What the control plane refused (a call the Role does not grant) is often why the
            # run broke: say both.
            for failure in [broken, *_control_plane_report(stack)]:
                print(f"run-local: {failure}", file=sys.stderr)
            return 1
        where = ("in a private network namespace (only lo)" if isolation.private
                 else "in this host's network")
        print(f"{name}: {len(stack.commands)} processes on 127.0.0.1 {where}, "
              "all probes ready")
        for component, pool in sorted(pools.items()):
            if pool.is_group:
                print("  " + groups.describe(pool.workload, component,
                                             started.workers.get(component, [])))
        print(f"  /v1/models: {', '.join(result.models)}")
        for label, workers in (("chat", result.chat_workers), ("stream", result.stream_workers)):
            if workers is None:
                served = "no worker ids returned"
            elif workers.prefill_worker_id == workers.decode_worker_id:
                served = f"worker {workers.decode_worker_id} (prefill and decode)"
            else:
                served = (f"prefill worker {workers.prefill_worker_id}, "
                          f"decode worker {workers.decode_worker_id}")
            print(f"  {label} completion: {served}")
        if kv is not None:
            print(f"  KV events: the router applied {kv.stored:g} 'stored' events from the "
                  f"workers ({kv.sources_active:g} ZMQ sources active); "
                  f"{kv.workers_without:g} workers without KV events")
        failures += _control_plane_report(stack)
        disaggregated = "prefill" in started.workers
        chat = result.chat_workers
        if disaggregated and not (chat and chat.prefill_worker_id in known.get("prefill", set())):
            failures.append("no prefill worker served the request")
    for failure in failures:
        print(f"run-local: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _control_plane_report(stack: LocalStack) -> list[str]:
    """Print what the control plane saw (after the stack stopped: the workers' last calls are
    made as they stop); return what fails the run."""
    if stack.control_plane is None:
        return []
    report = stack.control_plane.report()
    for line in report.lines:
        print(f"  {line}")
    return report.failures


def _cannot_run(pools: Mapping[str, WorkerPool], workdir: Path, source: str) -> list[Problem]:
    """One problem per worker pool whose process run-local cannot start, found by translating
    its container before anything starts (the translation is what refuses)."""
    from .run_local import CannotRunLocally, LocalContext, translate_container

    context = LocalContext(python="python3", model_dir=workdir / "model", workdir=workdir)
    problems: list[Problem] = []
    for component, pool in sorted(pools.items()):
        try:
            translate_container(pool.name, pool.container, context,
                                pod_name=pool.pod_name(0), group=pool.group)
        except CannotRunLocally as exc:
            problems.append(Problem(source, component, (
                f"{pool.workload['kind']} {pool.name}: run-local cannot start it: {exc}")))
    return problems


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               resolve: object) -> None:
    parser = commands.add_parser(
        "run-local", help="run a Dynamo 1.x environment on 127.0.0.1 and query it",
        description="Runs a Dynamo 1.x environment on 127.0.0.1 with the mock engine, in a "
        "private network namespace, and sends it OpenAI requests (needs "
        "scripts/install-dynamo-runtime.sh).")
    parser.add_argument("environment", help="a name in environments/ or a file")
    parser.add_argument("--replicas", default="1",
                        help="worker processes per Deployment, and groups per LeaderWorkerSet "
                        "(each runs as its leader): a number or 'all' (default: 1)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for each process and answer (default: 60)")
    parser.add_argument("--host-network", action="store_true",
                        help="run in this host's network instead of a private network "
                        "namespace (what run-local falls back to when it cannot make one): "
                        "every process on 127.0.0.1, the event plane moved to a local NATS")
    parser.set_defaults(run=lambda args: run(args, resolve(args.environment)))  # type: ignore[operator]
