"""Environments built in tests: shipped files with changes, with or without their rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import model_validator

from constructs_lib.model import AnyEnvironment, Environment, EnvironmentV1
from constructs_lib.model.loader import environment_model

ENVIRONMENTS = Path(__file__).resolve().parents[2] / "environments"


class Unchecked(Environment):
    """An Environment whose file rules do not run, so that a test can hand a rule (or the
    planner) exactly the environment that rule exists to refuse."""

    @model_validator(mode="after")
    def _follows_the_rules(self) -> Unchecked:
        return self


class UncheckedV1(EnvironmentV1):
    """An EnvironmentV1 whose file rules do not run."""

    @model_validator(mode="after")
    def _follows_the_rules(self) -> UncheckedV1:
        return self


def data(base: str, **changes: Any) -> dict[str, Any]:
    """A shipped environment's settings with `changes` deep-merged in (None deletes a key)."""
    loaded = yaml.safe_load((ENVIRONMENTS / f"{base}.yaml").read_text())
    return merge(loaded, changes)


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def unchecked(base: str, **changes: Any) -> AnyEnvironment:
    settings = data(base, **changes)
    model = UncheckedV1 if environment_model(settings) is EnvironmentV1 else Unchecked
    return model.model_validate(settings)


def checked(base: str, **changes: Any) -> AnyEnvironment:
    settings = data(base, **changes)
    return environment_model(settings).model_validate(settings)


ETCD_TLS = {"server_secret": "etcd-server-tls", "client_secret": "dynamo-etcd-client-tls"}
"""`dependencies.etcd.tls` of the TLS environments built in tests."""


def with_etcd_tls(base: str = "single-node-v1", replicas: int = 3) -> AnyEnvironment:
    """A shipped 1.x environment whose own etcd (of `replicas` members) speaks mutual TLS."""
    return checked(base, dependencies={"etcd": {"tls": ETCD_TLS, "replicas": replicas}})
