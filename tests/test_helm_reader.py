"""Reading values by their Helm keys: types checked, problems named by key and file."""

from __future__ import annotations

from tests.support.helm_values import MULTINODE, converted, problems


def test_switches_must_be_booleans_not_strings() -> None:
    assert problems({"rdma": {"enable": "false"}}) == [
        "f0.yaml: rdma.enable: expected true or false, got the string 'false' (Helm treats every "
        "non-empty string as true; write true or false, unquoted)"]


def test_invalid_values_name_the_key_the_value_and_what_is_allowed() -> None:
    assert problems({"rdma": {"networkMode": "tke-direct"}, "service": {"port": 70000,
                                                                         "type": "ExternalName"},
                     "multinode": {"replicas": -1}}, MULTINODE) == [
        "f0.yaml: service.type: Input should be 'ClusterIP', 'NodePort' or 'LoadBalancer' "
        "(received ExternalName)",
        "f0.yaml: service.port: Input should be less than or equal to 65535 (received 70000)",
        "f0.yaml: rdma.networkMode: Input should be 'tke-route-eni' or 'tke-bridge' "
        "(received tke-direct)",
        "f0.yaml: multinode.replicas: Input should be greater than or equal to 0 (received -1)",
    ]


def test_replicas_must_be_whole_numbers() -> None:
    assert problems(MULTINODE, sets=("multinode.replicas=true",)) == [
        "--set: multinode.replicas: expected a whole number, got true"]


def test_image_settings() -> None:
    env = converted(sets=("image.tag=2", "imagePullSecrets[0].name=a",
                          "imagePullSecrets[1].name=b")).environment
    assert env.image.reference == "tkeai.tencentcloudcr.com/tke-ai-playbook/dynamo:2"
    assert env.image_pull_secrets == ["a", "b"]


def test_image_problems() -> None:
    secrets = ["regcred", {"name": "Bad_Name"}]
    assert problems({"image": {"tag": ""}, "imagePullSecrets": secrets}) == [
        "f0.yaml: image.tag: is empty; set the image tag (the chart would have used its "
        "placeholder appVersion 1.16.0, which is not a Dynamo image tag)",
        "f0.yaml: imagePullSecrets[0]: expected {name: <secret>}, got regcred",
        "f0.yaml: imagePullSecrets[1].name: 'Bad_Name' is not a valid DNS-1123 subdomain: at "
        "most 253 characters of lower-case letters, digits, '-' and '.'",
    ]


def test_label_problems_name_the_label() -> None:
    [message] = problems({"podLabels": {"tier": 1}})
    assert message.startswith("f0.yaml: podLabels.tier: label values are strings; got 1")


def test_a_section_that_is_not_a_mapping_is_named_once() -> None:
    assert problems({"rdma": True}) == ["f0.yaml: rdma: expected a mapping of keys, got true"]
