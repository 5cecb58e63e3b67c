"""Shared pieces of the typed model: the strict base class and Kubernetes value types."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

from ..errors import quoted

# Kubernetes' own patterns (apimachinery validation), so that a name refused here would have
# been refused by the API server too, only hours later.
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# The distribution reference grammar that container runtimes parse image names with.
_IMAGE_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_HOST_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_IMAGE_REGISTRY = rf"{_IMAGE_HOST_LABEL}(?:\.{_IMAGE_HOST_LABEL})*(?::[0-9]+)?"
_IMAGE_REPOSITORY = re.compile(
    rf"^(?:{_IMAGE_REGISTRY}/)?{_IMAGE_PATH_COMPONENT}(?:/{_IMAGE_PATH_COMPONENT})*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Fa-f0-9]{32,}$")
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


class StrictModel(BaseModel):
    """Immutable, and refuses keys it does not know: a misspelt key is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False)


def is_dns_label(value: str, max_length: int = 63) -> bool:
    return len(value) <= max_length and bool(_DNS_1123_LABEL.match(value))


def is_dns_1035_label(value: str, max_length: int = 63) -> bool:
    """A Service name: a DNS label that starts with a letter (it becomes a DNS name and an
    environment variable prefix in every pod of the namespace)."""
    return len(value) <= max_length and bool(_DNS_1035_LABEL.match(value))


def is_dns_subdomain(value: str) -> bool:
    return len(value) <= 253 and bool(_DNS_1123_SUBDOMAIN.match(value))


def _dns_label(value: str) -> str:
    if not is_dns_label(value):
        raise ValueError(
            f"{quoted(value)} is not a valid DNS-1123 label: at most 63 characters of lower-case "
            "letters, digits and '-', starting and ending with a letter or digit"
        )
    return value


def _dns_subdomain(value: str) -> str:
    if not is_dns_subdomain(value):
        raise ValueError(
            f"{quoted(value)} is not a valid DNS-1123 subdomain: at most 253 characters of "
            "lower-case letters, digits, '-' and '.'"
        )
    return value


def _quantity(value: Any) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{quoted(value)} is not a Kubernetes quantity such as 10, 500m or 20Gi")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{quoted(value)} is negative; a quantity must be at least 0")
    elif not _QUANTITY.match(value) or value.startswith("-"):
        raise ValueError(f"{quoted(value)} is not a Kubernetes quantity such as 10, 500m or 20Gi")
    number = value if isinstance(value, int) else quantity_value(value)
    if not 0 <= number < 2**63:
        # NaN, infinity, or more than Kubernetes stores (a 64-bit integer of its unit)
        raise ValueError(f"{quoted(value)} is not a finite Kubernetes quantity: at most "
                         f"{2**63 - 1}")
    return value


def _positive_quantity(value: int | float | str) -> int | float | str:
    if quantity_value(value) <= 0:
        raise ValueError("a volume's size must be more than 0, as the API server requires")
    return value


def _qualified_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (prefix and not is_dns_subdomain(prefix)) or len(name) > 63 or not _LABEL_NAME.match(name):
        raise ValueError(
            f"{quoted(value)} is not a valid label or annotation key: an optional DNS prefix and "
            "'/', then at most 63 letters, digits, '-', '_' or '.'"
        )
    return value


def _label_value(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"label values are strings; got {quoted(value)} (quote it in YAML)")
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(
            f"{quoted(value)} is not a valid label value: at most 63 letters, digits, '-', '_' or "
            "'.', starting and ending with a letter or digit"
        )
    return value


def _image_repository(value: str) -> str:
    first, _, rest = value.partition("/")
    if len(value) > 255 or not _IMAGE_REPOSITORY.match(value) or (
            rest and any(c.isupper() for c in first) and "." not in first and ":" not in first):
        raise ValueError(
            f"{quoted(value)} is not an image repository: [registry[:port]/]path, the path in "
            "lower-case letters, digits and '.', '_', '-' separated by '/', without a tag "
            "(the tag goes in `tag`)"
        )
    return value


def _image_tag(value: str) -> str:
    if not _IMAGE_TAG.match(value):
        raise ValueError(
            f"{quoted(value)} is not an image tag: at most 128 letters, digits, '_', '.' or '-', "
            "not starting with '.' or '-'"
        )
    return value


def _image_digest(value: str) -> str:
    algorithm, _, encoded = value.partition(":")
    if not _IMAGE_DIGEST.match(value) or (algorithm == "sha256" and not
                                          re.fullmatch(r"[a-f0-9]{64}", encoded)):
        raise ValueError(
            f"{quoted(value)} is not an image digest: algorithm:hex, such as sha256: followed by "
            "64 lower-case hex digits"
        )
    return value


MAX_ANNOTATION_BYTES = 256 * 1024
"""What the API server accepts for all annotations of one object, keys and values together."""
RESERVED_ANNOTATION_BYTES = 1024
"""Kept for the annotations the constructs add themselves (TKE's networks annotation)."""


def annotation_bytes(annotations: dict[str, str]) -> int:
    """The size the API server counts: the UTF-8 bytes of every key and value."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())


def _annotations_fit(value: dict[str, str]) -> dict[str, str]:
    size, limit = annotation_bytes(value), MAX_ANNOTATION_BYTES - RESERVED_ANNOTATION_BYTES
    if size > limit:
        raise ValueError(f"the annotations take {size} bytes; at most {limit} are accepted (the "
                         "API server refuses more than 256 KiB of annotations on an object, and "
                         "1 KiB is kept for the ones this library adds)")
    return value


# Paths the Dynamo containers mount volumes of their own at (see _render/v01.py and v1.py).
RESERVED_MOUNT_PATHS = ("/", "/dev/shm", "/workspace/examples/llm/configs",
                        "/workspace/examples/llm/graphs", "/etc/nats-config")
_MOUNT_PATH = re.compile(r"^(/[^/\x00-\x1f\x7f:\"\\]+)+/?$")


def _mount_path(value: str) -> str:
    if (not _MOUNT_PATH.match(value) or len(value) > 1024
            or any(part in (".", "..") for part in value.split("/"))):
        raise ValueError(f"{quoted(value)} is not a mount path: an absolute path such as /data, "
                         "without '.' or '..' parts, ':', quotes, backslashes or control "
                         "characters")
    if value.rstrip("/") in RESERVED_MOUNT_PATHS:
        raise ValueError(f"{quoted(value)} is where the container mounts a volume of its own "
                         f"(it mounts {', '.join(RESERVED_MOUNT_PATHS[1:])}); Kubernetes refuses "
                         "two volumes at one path")
    return value


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"{quoted(value)} is not a duration such as 15s, 1m or 1m30s")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
DnsSubdomain = Annotated[str, AfterValidator(_dns_subdomain)]
Quantity = Annotated[int | float | str, BeforeValidator(_quantity)]
StorageSize = Annotated[Quantity, AfterValidator(_positive_quantity)]
"""The size of a volume: Kubernetes refuses a claim of 0 bytes."""
LabelKey = Annotated[str, AfterValidator(_qualified_key)]
LabelValue = Annotated[str, BeforeValidator(_label_value)]
Labels = dict[LabelKey, LabelValue]
Annotations = Annotated[dict[LabelKey, str], AfterValidator(_annotations_fit)]
MountPath = Annotated[str, AfterValidator(_mount_path)]
ImageRepository = Annotated[str, AfterValidator(_image_repository)]
ImageTag = Annotated[str, AfterValidator(_image_tag)]
ImageDigest = Annotated[str, AfterValidator(_image_digest)]
Duration = Annotated[str, AfterValidator(_duration)]
# Counts are strict: YAML's `true`, `2.0` or `"2"` would otherwise be taken for a number.
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]
Count = Annotated[int, Strict(), Field(ge=0)]
PositiveCount = Annotated[int, Strict(), Field(ge=1)]

# Upper bounds of the counts that size work: each is far beyond a real deployment, so that a
# typo (or 2**31) is refused at once instead of planned for minutes.
MAX_REPLICAS = 1000
"""Replicas of one Deployment of GPU pods."""
MAX_NODES = 5000
"""Nodes of a node pool: Kubernetes supports clusters of up to 5000 nodes."""
MAX_GPUS = 128
"""GPUs of one node, one pod or one worker process."""
MAX_WORKERS = 64
"""Worker processes of one component in one pod."""


_NO_REAL_DEPLOYMENT = "more is no real deployment, and would only make planning it slow"


def at_most(limit: int, what: str, why: str = _NO_REAL_DEPLOYMENT) -> AfterValidator:
    """A validator refusing more than `limit`, naming the limit and why there is one (the
    types below also carry it into the JSON schema as `maximum`)."""
    def check(value: int) -> int:
        if value > limit:
            raise ValueError(f"at most {limit} {what} are accepted: {why}")
        return value
    return AfterValidator(check)


Replicas = Annotated[int, Strict(), Field(ge=0, json_schema_extra={"maximum": MAX_REPLICAS}),
                     at_most(MAX_REPLICAS, "replicas")]
NodeCount = Annotated[int, Strict(), Field(ge=1, json_schema_extra={"maximum": MAX_NODES}),
                      at_most(MAX_NODES, "nodes",
                              "Kubernetes supports clusters of up to 5000 nodes")]
GpuCount = Annotated[int, Strict(), Field(ge=0, json_schema_extra={"maximum": MAX_GPUS}),
                     at_most(MAX_GPUS, "GPUs")]
PositiveGpuCount = Annotated[int, Strict(), Field(ge=1, json_schema_extra={"maximum": MAX_GPUS}),
                             at_most(MAX_GPUS, "GPUs")]
WorkerCount = Annotated[int, Strict(), Field(ge=1, json_schema_extra={"maximum": MAX_WORKERS}),
                        at_most(MAX_WORKERS, "worker processes")]


def quantity_value(quantity: int | float | str) -> float:
    """The numeric value of a quantity, for arithmetic such as summing memory or CPU."""
    if isinstance(quantity, (int, float)):
        return float(quantity)
    suffixes = {
        "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
        "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
        "E": 1e18,
    }
    for suffix in sorted(suffixes, key=len, reverse=True):
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * suffixes[suffix]
    return float(quantity)
