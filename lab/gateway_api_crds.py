"""The Gateway API CRDs the clusters install (cluster/gateway-api/, v1.6.0's standard channel), read as
an API server reads them: which versions each kind serves, and what each version's OpenAPI schema
refuses (required fields, list sizes, string lengths, patterns, enums, number ranges).

The schema rules are the API server's structural-schema validation (apiextensions-apiserver, via
kube-openapi's validate package); the CRDs' CEL rules (x-kubernetes-validations) are not evaluated
here — gateway_api_schema.py and gateway_api_limits.py write the ones the lab's fields meet.
"""

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import yaml

from lab.config import CLUSTER_DIR

GROUP = "gateway.networking.k8s.io"
CRD_DIR = CLUSTER_DIR / "gateway-api"
CRD_FILES = {"Gateway": "gateways.yaml", "HTTPRoute": "httproutes.yaml", "ReferenceGrant": "referencegrants.yaml"}
JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "boolean": (bool,),
                                           "number": (int, float), "object": (dict,), "array": (list,)}


@cache
def crd(kind: str) -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # 430 KB: the C loader reads it in 0.15 s
    return yaml.load((CRD_DIR / CRD_FILES[kind]).read_text(), Loader=loader)


def served_versions(kind: str) -> tuple[str, ...]:
    """The versions the kind's CRD serves (`served: true`), e.g. ("v1", "v1beta1")."""
    return tuple(v["name"] for v in crd(kind)["spec"]["versions"] if v.get("served"))


def spec_schema(kind: str, version: str) -> dict:
    """The OpenAPI schema of `spec` at `version` (or the storage version when it is not served)."""
    versions = crd(kind)["spec"]["versions"]
    chosen = next((v for v in versions if v["name"] == version and v.get("served")), None) \
        or next(v for v in versions if v.get("storage"))
    return chosen["schema"]["openAPIV3Schema"]["properties"]["spec"]


@cache
def _pattern(text: str) -> re.Pattern:
    """Go's `$` (outside a [class]) ends the text; Python's would also match before a final newline."""
    out, in_class, escaped = [], False, False
    for char in text:
        if escaped:
            out.append(char)
            escaped = False
            continue
        escaped = char == "\\"
        in_class = (in_class and char != "]") or char == "["
        out.append(r"\Z" if char == "$" and not in_class else char)
    return re.compile("".join(out))


def schema_problems(schema: dict, value: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """(field, why, fix) for each rule of `schema` that `value` breaks, outermost first. A null value is
    as good as absent (the API server prunes nulls of non-nullable fields)."""
    kind = schema.get("type")
    if kind in JSON_TYPES and (not isinstance(value, JSON_TYPES[kind]) or
                               (kind in ("integer", "number") and isinstance(value, bool))):
        yield where, f"is {value!r}, not {'an' if kind[0] in 'aeiou' else 'a'} {kind}", f"write it as {kind}"
        return
    yield from _scalar_problems(schema, value, where)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            yield where, f"has {len(value)} entries; the CRD needs at least {schema['minItems']}", \
                "add one, or leave the field out"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield where, f"has {len(value)} entries; the CRD allows at most {schema['maxItems']}", \
                f"keep {schema['maxItems']} or fewer (split it across more objects if need be)"
        for i, item in enumerate(value):
            yield from schema_problems(schema.get("items") or {}, item, f"{where}[{i}]")
    if isinstance(value, dict):
        for name in schema.get("required") or []:
            if value.get(name) is None:
                yield f"{where}.{name}", "is required by the CRD", f"add {name}"
        properties, extra = schema.get("properties") or {}, schema.get("additionalProperties")
        for name, item in value.items():
            child = properties.get(name, extra if isinstance(extra, dict) else None)
            if child is not None and item is not None:
                yield from schema_problems(child, item, f"{where}.{name}")


def _scalar_problems(schema: dict, value: Any, where: str) -> Iterator[tuple[str, str, str]]:
    if "enum" in schema and value not in schema["enum"]:
        yield where, f"is {value!r}", f"one of {', '.join(map(str, schema['enum']))}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            short = "is empty" if not value else f"is shorter than {schema['minLength']} characters"
            yield where, short, "give it a value"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield where, f"is {len(value)} characters long; the CRD allows at most {schema['maxLength']}", "shorten it"
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            yield where, f"is {value!r}, which the CRD's pattern refuses", f"match {schema['pattern']}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield where, f"is {value}", f"at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            yield where, f"is {value}", f"at most {schema['maximum']}"
