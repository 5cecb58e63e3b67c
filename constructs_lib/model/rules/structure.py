"""Rules on which sections a v0.1 environment needs for its mode."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from . import Finding

if TYPE_CHECKING:
    from ..environment import EnvironmentBase


def mode_matches_roles(env: EnvironmentBase) -> Iterator[Finding]:
    """multinode needs the prefill pool's section; single runs everything in one pod."""
    from ..environment import Environment, Mode

    if not isinstance(env, Environment):
        return
    if env.mode is Mode.MULTINODE and env.prefill is None:
        yield Finding("prefill", "missing, but mode multinode runs the prefill workers in a pool "
                                 "of their own, which this section describes")
    if env.mode is Mode.SINGLE and env.prefill is not None:
        yield Finding("prefill", "given, but mode single runs the whole graph in one pod; remove "
                                 "this section or set mode: multinode")


def prefill_pool_runs_prefill_workers(env: EnvironmentBase) -> Iterator[Finding]:
    """The prefill pod starts `dynamo serve components.prefill_worker:PrefillWorker`."""
    from ..environment import Environment, Mode

    if not isinstance(env, Environment):
        return
    if env.mode is Mode.MULTINODE and env.prefill and env.prefill.config.prefill_worker is None:
        present = ", ".join(env.prefill.config.render()) or "no section"
        yield Finding("prefill.config.PrefillWorker",
                      f"missing (the config has {present}); the prefill pod runs only "
                      "PrefillWorker, configured by this section")
