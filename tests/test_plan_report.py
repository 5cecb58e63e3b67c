"""How the placement plan reads: the terminal table and PLAN.md."""

from __future__ import annotations

import re

import yaml

from constructs_lib.tools import plan_report
from tests.conftest import ROOT
from tests.support.charts import plan_of
from tests.support.environments import checked, unchecked, with_etcd_tls


def test_the_table_shows_each_pod_with_its_node_gpus_rdma_and_ports() -> None:
    text = plan_report.text(plan_of(checked("multi-node")), "multi-node")
    lines = text.splitlines()
    assert lines[0] == ("Placement plan of multi-node: 3 nodes x 8 GPUs (NVIDIA-H20), as "
                        "declared in `nodes`; 24 of 24 GPUs requested (nvidia.com/gpu).")
    assert lines[2].split() == ["NODE", "GPUS", "USED", "POD", "ITS", "GPUS", "RDMA", "HOST",
                                "PORTS"]
    assert lines[3].split() == ["node-1", "8", "of", "8",
                                "deepseek-r1-llama-70b-dynamo-multinode-frontend", "1/1", "8",
                                "(4", "decode", "+", "4", "prefill)", "yes", "8000"]
    assert "pods that declare the same port (8000) never share a node" in text


def test_pods_of_one_node_share_its_row_group() -> None:
    env = checked("multi-node-no-rdma", nodes={"count": 2, "gpus_per_node": 16})
    lines = plan_report.text(plan_of(env), "x").splitlines()
    assert [line.split()[0] for line in lines[3:6]] == ["node-1", "deepseek-r1-llama-70b-dynamo-"
                                                        "multinode-prefill", "node-2"]
    assert "hostNetwork off" in lines[-2]


def test_a_plan_that_does_not_fit_shows_the_pods_left_over() -> None:
    markdown = plan_report.markdown(plan_of(unchecked("multi-node", nodes={"count": 2})),
                                    "small")
    assert ("| no node | - | deepseek-r1-llama-70b-dynamo-multinode-prefill 2/2 | 8 (8 prefill) "
            "| yes | 8000 |") in markdown
    assert "- Does not fit: 1 pod(s) find no node; the pods need 3 nodes." in markdown


def test_without_a_pool_the_plan_states_the_default_node_size() -> None:
    text = plan_report.text(plan_of(checked("single-node", nodes=None)), "s")
    assert text.startswith("Placement plan of s: no node pool declared: the pods need 1 node x "
                           "8 GPUs (the default node size)")


def test_a_tls_etcd_lists_the_names_its_server_certificate_needs() -> None:
    env = with_etcd_tls()
    names = env.dependency_names.etcd_server_dns_names(env.namespace, 3)
    assert plan_of(env).etcd_tls_dns_names == names
    markdown = plan_report.markdown(plan_of(env), "tls")
    section = markdown.split("## etcd TLS\n", 1)[1]
    assert [line[3:-1] for line in section.splitlines() if line.startswith("- `")] == list(names)
    assert "serverAuth and clientAuth" in section
    text = plan_report.text(plan_of(env), "tls")
    assert [line.strip()[2:] for line in text.splitlines() if line.startswith("  - ")] == list(
        names)


def test_plain_etcd_adds_nothing_about_certificates() -> None:
    plan = plan_of(checked("single-node-v1"))
    assert plan.etcd_tls_dns_names == ()
    assert "etcd TLS" not in plan_report.markdown(plan, "plain")
    assert "mutual TLS" not in plan_report.text(plan, "plain")


def test_the_cert_manager_example_asks_for_the_names_the_plan_lists() -> None:
    section = (ROOT / "docs" / "hardening.md").read_text().split(
        "## etcd with mutual TLS\n", 1)[1].split("\n## ", 1)[0]
    environment, issuer = re.findall(r"```yaml\n(.*?)```", section, re.S)
    tls = yaml.safe_load(environment)["dependencies"]["etcd"]
    documents = list(yaml.safe_load_all(issuer))
    certificates = {d["spec"]["secretName"]: d for d in documents if d["kind"] == "Certificate"}
    assert set(certificates) == set(tls["tls"].values())
    server = certificates[tls["tls"]["server_secret"]]
    env = checked("single-node-v1", release="llama", namespace="inference",
                  dependencies={"etcd": tls})
    assert server["metadata"]["namespace"] == env.namespace
    assert tuple(server["spec"]["dnsNames"]) == plan_of(env).etcd_tls_dns_names
    assert {"server auth", "client auth"} <= set(server["spec"]["usages"])
    assert "client auth" in certificates[tls["tls"]["client_secret"]]["spec"]["usages"]
