"""A CustomResourceDefinition's structural schema, applied to an object the way the API server
applies it on create, update and apply (standard library only).

The API server does two things with a custom object under its CRD's `openAPIV3Schema`:

- **validation**: a wrong type, a missing required field, a value outside an `enum`, a bound or
  a pattern makes the request fail (422 Invalid), naming each field;
- **pruning**: a field the schema does not specify is dropped silently (with a `Warning`
  header since 1.27), unless the object it sits in says `x-kubernetes-preserve-unknown-fields`.
  `apiVersion`, `kind` and `metadata` at the top (and in `x-kubernetes-embedded-resource`
  objects) are the API server's own and never pruned.

A dropped field is what a worker would lose without an error, so :meth:`StructuralSchema.prune`
returns their paths for run-local to report. `x-kubernetes-validations` (CEL rules) and
`format` are not evaluated; :attr:`StructuralSchema.unchecked` lists where the schema has
them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

Object = dict[str, Any]
ROOT_FIELDS = ("apiVersion", "kind", "metadata")
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float),
}
_UNCHECKED = ("x-kubernetes-validations", "format")


class StructuralSchema:
    """The schema of one served version of a CRD."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = dict(schema)
        self.unchecked: list[str] = sorted(set(_find_unchecked(self.schema, "")))
        """Where the schema has rules this check does not evaluate (`path: keyword`)."""

    @classmethod
    def of(cls, crd: Mapping[str, Any], version: str | None = None) -> StructuralSchema:
        """The schema of `version` (default: the storage version) of `crd`."""
        versions = crd["spec"]["versions"]
        chosen = [v for v in versions if v["name"] == version] if version else \
            [v for v in versions if v.get("storage")] or versions[:1]
        if not chosen:
            raise ValueError(f"{crd['metadata']['name']} has no version {version!r}")
        return cls(chosen[0].get("schema", {}).get("openAPIV3Schema", {}))

    def errors(self, obj: Any) -> list[str]:
        """Every validation failure, `path: reason`, as the API server's 422 lists them."""
        found: list[str] = []
        _validate(obj, self.schema, "", found, root=True)
        return found

    def prune(self, obj: Object) -> list[str]:
        """Drop, in place, the fields the schema does not specify; return their paths."""
        dropped: list[str] = []
        _prune(obj, self.schema, "", dropped, root=True)
        return dropped


def _find_unchecked(schema: Any, path: str) -> list[str]:
    if not isinstance(schema, dict):
        return []
    found = [f"{path or '.'}: {key}" for key in _UNCHECKED if key in schema]
    for name, child in (schema.get("properties") or {}).items():
        found += _find_unchecked(child, f"{path}.{name}" if path else name)
    for key in ("items", "additionalProperties"):
        found += _find_unchecked(schema.get(key), f"{path}[*]" if key == "items" else
                                 f"{path}.*" if path else "*")
    for key in ("allOf", "anyOf", "oneOf"):
        for child in schema.get(key) or []:
            found += _find_unchecked(child, path)
    return found


def _type_ok(value: Any, schema: Mapping[str, Any]) -> bool:
    if value is None:
        return bool(schema.get("nullable"))
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    wanted = schema.get("type")
    if wanted is None:
        return True
    if isinstance(value, bool) and wanted in ("integer", "number"):
        return False
    if wanted == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(wanted, (object,)))


def _validate(value: Any, schema: Mapping[str, Any], path: str, found: list[str],
              root: bool = False) -> None:
    where = path or "<root>"
    if not _type_ok(value, schema):
        shown = "null" if value is None else type(value).__name__
        found.append(f"{where}: Invalid value: {shown}: must be of type "
                     f"{schema.get('type', 'int-or-string')}")
        return
    if value is None:
        return
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: Unsupported value: {value!r}: supported values: "
                     + ", ".join(repr(v) for v in schema["enum"]))
    _bounds(value, schema, where, found)
    for key in ("allOf",):
        for child in schema.get(key) or []:
            _validate(value, child, path, found)
    for key, wanted in (("anyOf", "at least one"), ("oneOf", "exactly one")):
        options = schema.get(key)
        if options:
            passing = sum(1 for child in options if not _errors_of(value, child, path))
            if passing == 0 or (key == "oneOf" and passing > 1):
                found.append(f"{where}: Invalid value: must match {wanted} of {key}")
    if "not" in schema and not _errors_of(value, schema["not"], path):
        found.append(f"{where}: Invalid value: must not match the schema under 'not'")
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in value:
                found.append(f"{path + '.' if path else ''}{name}: Required value")
        extra = schema.get("additionalProperties")
        for name, child in value.items():
            if root and name in ROOT_FIELDS:
                # The API server's own fields: it checks them itself, whatever the schema says
                # below them (a CRD may only restrict metadata.name, and rarely does).
                continue
            sub = f"{path}.{name}" if path else name
            if name in properties:
                _validate(child, properties[name], sub, found)
            elif isinstance(extra, dict):
                _validate(child, extra, sub, found)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _validate(item, schema["items"], f"{path}[{i}]", found)


def _errors_of(value: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    found: list[str] = []
    _validate(value, schema, path, found)
    return found


def _bounds(value: Any, schema: Mapping[str, Any], where: str, found: list[str]) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and (value < low or (schema.get("exclusiveMinimum") and
                                                value == low)):
            found.append(f"{where}: Invalid value: {value}: must be at least {low}")
        if high is not None and (value > high or (schema.get("exclusiveMaximum") and
                                                  value == high)):
            found.append(f"{where}: Invalid value: {value}: must be at most {high}")
    sized = {str: ("minLength", "maxLength"), list: ("minItems", "maxItems"),
             dict: ("minProperties", "maxProperties")}
    for kind, (least, most) in sized.items():
        if isinstance(value, kind):
            if least in schema and len(value) < schema[least]:
                found.append(f"{where}: Invalid value: fewer than {schema[least]} ({least})")
            if most in schema and len(value) > schema[most]:
                found.append(f"{where}: Too long: more than {schema[most]} ({most})")
    if isinstance(value, str) and "pattern" in schema and \
            re.search(schema["pattern"], value) is None:
        found.append(f"{where}: Invalid value: {value!r}: does not match {schema['pattern']!r}")
    if isinstance(value, list) and schema.get("uniqueItems"):
        seen: list[Any] = []
        for item in value:
            if item in seen:
                found.append(f"{where}: Duplicate value: {item!r}")
            seen.append(item)


def _prune(value: Any, schema: Mapping[str, Any], path: str, dropped: list[str],
           root: bool = False) -> None:
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep_unknown = bool(schema.get("x-kubernetes-preserve-unknown-fields")) or \
            extra is True or isinstance(extra, dict)
        own = ROOT_FIELDS if root or schema.get("x-kubernetes-embedded-resource") else ()
        for name in list(value):
            sub = f"{path}.{name}" if path else name
            if name in own:
                continue
            if name in properties:
                _prune(value[name], properties[name], sub, dropped)
            elif isinstance(extra, dict):
                _prune(value[name], extra, sub, dropped)
            elif not keep_unknown:
                del value[name]
                dropped.append(sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _prune(item, schema["items"], f"{path}[{i}]", dropped)
