"""Shared pieces of the typed model: the strict base class and Kubernetes value types."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

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
                              use_attribute_docstrings=True)


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
            f"{value!r} is not a valid DNS-1123 label: at most 63 characters of lower-case "
            "letters, digits and '-', starting and ending with a letter or digit"
        )
    return value


def _dns_subdomain(value: str) -> str:
    if not is_dns_subdomain(value):
        raise ValueError(
            f"{value!r} is not a valid DNS-1123 subdomain: at most 253 characters of lower-case "
            "letters, digits, '-' and '.'"
        )
    return value


def _quantity(value: Any) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 10, 500m or 20Gi")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{value!r} is negative; a quantity must be at least 0")
        return value
    if not _QUANTITY.match(value) or value.startswith("-"):
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 10, 500m or 20Gi")
    return value


def _qualified_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (prefix and not is_dns_subdomain(prefix)) or len(name) > 63 or not _LABEL_NAME.match(name):
        raise ValueError(
            f"{value!r} is not a valid label or annotation key: an optional DNS prefix and '/', "
            "then at most 63 letters, digits, '-', '_' or '.'"
        )
    return value


def _label_value(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"label values are strings; got {value!r} (quote it in YAML)")
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(
            f"{value!r} is not a valid label value: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return value


def _image_repository(value: str) -> str:
    first, _, rest = value.partition("/")
    if len(value) > 255 or not _IMAGE_REPOSITORY.match(value) or (
            rest and any(c.isupper() for c in first) and "." not in first and ":" not in first):
        raise ValueError(
            f"{value!r} is not an image repository: [registry[:port]/]path, the path in "
            "lower-case letters, digits and '.', '_', '-' separated by '/', without a tag "
            "(the tag goes in `tag`)"
        )
    return value


def _image_tag(value: str) -> str:
    if not _IMAGE_TAG.match(value):
        raise ValueError(
            f"{value!r} is not an image tag: at most 128 letters, digits, '_', '.' or '-', not "
            "starting with '.' or '-'"
        )
    return value


def _image_digest(value: str) -> str:
    algorithm, _, encoded = value.partition(":")
    if not _IMAGE_DIGEST.match(value) or (algorithm == "sha256" and not
                                          re.fullmatch(r"[a-f0-9]{64}", encoded)):
        raise ValueError(
            f"{value!r} is not an image digest: algorithm:hex, such as sha256: followed by 64 "
            "lower-case hex digits"
        )
    return value


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"{value!r} is not a duration such as 15s, 1m or 1m30s")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
DnsSubdomain = Annotated[str, AfterValidator(_dns_subdomain)]
Quantity = Annotated[int | float | str, BeforeValidator(_quantity)]
LabelKey = Annotated[str, AfterValidator(_qualified_key)]
LabelValue = Annotated[str, BeforeValidator(_label_value)]
Labels = dict[LabelKey, LabelValue]
Annotations = dict[LabelKey, str]
ImageRepository = Annotated[str, AfterValidator(_image_repository)]
ImageTag = Annotated[str, AfterValidator(_image_tag)]
ImageDigest = Annotated[str, AfterValidator(_image_digest)]
Duration = Annotated[str, AfterValidator(_duration)]
# Counts are strict: YAML's `true`, `2.0` or `"2"` would otherwise be taken for a number.
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]
Count = Annotated[int, Strict(), Field(ge=0)]
PositiveCount = Annotated[int, Strict(), Field(ge=1)]
Replicas = Count


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
