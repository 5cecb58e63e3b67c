from __future__ import annotations

import pytest

from constructs_lib.model.naming import DependencyNames, chart_name, full_name


@pytest.mark.parametrize("release, name_override, fullname_override, expected", [
    ("deepseek-r1-llama-70b", None, None, "deepseek-r1-llama-70b-dynamo"),
    ("dynamo-canary", None, None, "dynamo-canary"),
    ("dynamo-canary", "llm", None, "dynamo-canary-llm"),
    ("r1", None, "r1-serving", "r1-serving"),
    ("a" * 60, None, None, "a" * 60 + "-dy"),
    ("a" * 62, None, None, "a" * 62),  # cut at 63, then the trailing '-' trimmed
])
def test_full_name_follows_the_chart(release, name_override, fullname_override, expected) -> None:
    assert full_name(release, name_override, fullname_override) == expected


def test_chart_name_is_the_name_label() -> None:
    assert chart_name(None) == "dynamo"
    assert chart_name("llm") == "llm"


def test_etcds_server_certificate_names_cover_the_service_and_every_member() -> None:
    names = DependencyNames("r1")
    assert names.etcd_server_dns_names("ns", 3) == (
        "r1-etcd", "r1-etcd.ns", "r1-etcd.ns.svc", "r1-etcd.ns.svc.cluster.local",
        "r1-etcd-0.r1-etcd-headless.ns.svc.cluster.local",
        "r1-etcd-1.r1-etcd-headless.ns.svc.cluster.local",
        "r1-etcd-2.r1-etcd-headless.ns.svc.cluster.local",
    )
    assert names.etcd_member("ns", 1) == f"r1-etcd-1.{names.etcd_member_domain('ns')}"
