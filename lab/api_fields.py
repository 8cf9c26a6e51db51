"""Typos, told apart from what only a cluster supports: the kinds and fields real APIs have.

A kind its API group does not have (`kind: VirtualServce`) or a field no version of the API has
(`weigth`) is refused on every backend as a typo, with the closest real name: the API server refuses
them too (kubectl's strict field validation; a CRD's schema). The fields come from
cluster/api-fields.json (Istio's and Kubernetes' own schemas at the pinned versions, written by
tools/vendor_api_fields.py) and the Gateway API CRDs vendored in cluster/gateway-api/. What real APIs
have and the local lab does not is schema.py's to refuse, naming the backends that support it.
"""

import difflib
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any, NoReturn

from lab.config import CLUSTER_DIR
from lab.errors import ManifestError
from lab.gateway_api_crds import CRD_FILES, GROUP as GATEWAY_API_GROUP, crd

FIELDS_FILE = CLUSTER_DIR / "api-fields.json"
SCALAR, MAP = "scalar", "map"   # schema.py's leaves: any single value, a mapping with any keys
# A leaf whose schema names one type is that type: the API server refuses a value of another type
# (a CRD's structural schema: "must be of type string"; a built-in kind's JSON decoding: "cannot
# unmarshal bool into ... of type string"), and IntOrString takes those two. Other leaves of several
# types (a Quantity) stay SCALAR.
TYPED_LEAVES = {"string": (str,), "duration": (str,), "integer": (int,), "number": (int, float),
                "boolean": (bool,), "int-or-string": (int, str)}
TYPE_WORDS = {"string": "text", "duration": "a duration", "integer": "a whole number", "number": "a number",
              "boolean": "true or false", "int-or-string": "a whole number or a name"}
# A string the schema reads as a duration: Istio's CRDs check it with CEL's duration() (`timeout`), the
# Gateway API's with its Duration pattern (GEP-2257). `timeout: 1` is then told to give a unit.
DURATION_MARKS = ("duration(self)", "(h|m|s|ms)")
# The groups whose trees api-fields.json holds, by kind ("" is Kubernetes' core group).
TREE_GROUPS = {"Namespace": "", "Service": "", "Deployment": "apps", "Gateway": "networking.istio.io",
               "VirtualService": "networking.istio.io", "DestinationRule": "networking.istio.io"}


@cache
def _data() -> dict:
    return json.loads(FIELDS_FILE.read_text())


def crd_tree(schema: dict) -> Any:
    """A CRD's OpenAPI schema as a field tree: a leaf ("string", "duration", "integer", "number", "boolean",
    "int-or-string", or "scalar" for other types or none), "map" (any keys), [item], {name: tree}."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return MAP
    if schema.get("x-kubernetes-int-or-string"):
        return "int-or-string"
    if schema.get("type") == "array":
        return [crd_tree(schema.get("items") or {})]
    if "properties" in schema:
        return {name: crd_tree(child) for name, child in sorted(schema["properties"].items())}
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        item = crd_tree(extra)
        return MAP if is_leaf(item) else {"*": item}
    if schema.get("type") == "string" and any(mark in json.dumps(schema.get("x-kubernetes-validations", "")) +
                                              str(schema.get("pattern", "")) for mark in DURATION_MARKS):
        return "duration"
    return MAP if schema.get("type") == "object" else leaf(schema.get("type"))


def leaf(types: object) -> str:
    """The leaf for a schema's `type` (one name, or a list with "null" as OpenAPI 3.1 writes it)."""
    named = [t for t in (types if isinstance(types, list) else [types]) if t not in (None, "null")]
    return named[0] if len(named) == 1 and named[0] in TYPED_LEAVES else SCALAR


def is_leaf(tree: Any) -> bool:
    return tree == SCALAR or (isinstance(tree, str) and tree in TYPED_LEAVES)


def group_of(obj: dict) -> str:
    return str(obj.get("apiVersion", "")).rpartition("/")[0]


@cache
def gateway_api_tree(kind: str, version: str) -> Any:
    """The vendored CRD's schema at `version` (its storage version when it does not serve that one)."""
    versions = crd(kind)["spec"]["versions"]
    chosen = next((v for v in versions if v["name"] == version), None) or next(v for v in versions if v["storage"])
    tree = crd_tree(chosen["schema"]["openAPIV3Schema"])
    return {**tree, "metadata": _data()["fields"]["Namespace"]["metadata"]}


def tree_of(obj: dict) -> Any:
    """The field tree of the object's kind, or None where the lab keeps none (other kinds)."""
    kind, group = obj.get("kind"), group_of(obj)
    if group == GATEWAY_API_GROUP and kind in CRD_FILES:
        return gateway_api_tree(kind, str(obj.get("apiVersion")).rpartition("/")[2])
    if TREE_GROUPS.get(str(kind)) == group and group != GATEWAY_API_GROUP:
        return _data()["fields"][kind]
    return None


def integral_numbers_as_stored(obj: dict) -> None:
    """A whole number written as a fraction (`weight: 50.0`, `replicas: 3.0`) becomes 50, in place, as
    it reaches a cluster: kubectl turns YAML into JSON by decoding it to float64 and writing that back
    with Go's encoding/json, which writes 50.0 as 50 (sigs.k8s.io/yaml YAMLToJSON); and for a custom
    resource kube-openapi's type check takes an integral number as an integer anyway (validate/type.go,
    isFloatInt). So no later rule refuses what a cluster takes."""
    _integral_as_int(obj)


def _integral_as_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _integral_as_int(item)
    elif isinstance(value, list):
        value[:] = [_integral_as_int(item) for item in value]
    return value


def kind_typo(obj: dict) -> str | None:
    """The closest real kind when the object's API group is one the lab knows and has no such kind."""
    kinds: dict[str, list[str]] = _data()["kinds"]
    group, kind = group_of(obj), str(obj.get("kind"))
    if group not in kinds or kind in kinds[group]:
        return None
    lab_kinds = list(dict.fromkeys(TREE_GROUPS) | dict.fromkeys(CRD_FILES))
    close = difflib.get_close_matches(kind, lab_kinds, n=1) or \
        difflib.get_close_matches(kind, [k for names in kinds.values() for k in names], n=1)
    return close[0] if close else ""


def check_known(obj: dict, where: str) -> None:
    """Refuse a kind or field no real API has (a typo), naming the closest real one. `where` names
    the object (Kind namespace/name)."""
    _refuse_istio_gateway_fields(obj, where)
    close = kind_typo(obj)
    if close is not None:
        hint = f"did you mean {close}? " if close else ""
        raise ManifestError(f"{where}: {group_of(obj) or 'the core API'} has no kind {obj.get('kind')} (a typo? "
                            "a cluster refuses it too)", f"{hint}kinds the lab runs: {local_kinds()}")
    tree = tree_of(obj)
    if tree is not None:
        walk_fields(obj, tree, "", where, lambda field, known: _typo(where, str(obj.get("kind")), field, known))


def _typo(where: str, kind: str, field: str, known: list[str]) -> NoReturn:
    close = difflib.get_close_matches(field.rpartition(".")[2], known, n=1)
    raise ManifestError(f"{where}: {kind} has no field {field} (a typo? a cluster refuses it too)",
                        f"did you mean '{close[0]}'?" if close else
                        f"remove it (the fields there: {', '.join(known[:12])})")


def _refuse_istio_gateway_fields(obj: dict, where: str) -> None:
    """Istio's Gateway under the Gateway API's apiVersion: a common mix-up, refused by a cluster too."""
    spec = obj.get("spec")
    istio_fields = [f for f in ("selector", "servers") if isinstance(spec, dict) and f in spec]
    if obj.get("kind") == "Gateway" and group_of(obj) == GATEWAY_API_GROUP and istio_fields:
        raise ManifestError(
            f"{where}: spec.{' and spec.'.join(istio_fields)} belong to Istio's Gateway (networking.istio.io/v1), "
            f"not to the Kubernetes Gateway API's ({obj['apiVersion']}); a cluster refuses them too",
            "use apiVersion networking.istio.io/v1 for selector/servers, or write the Gateway API's "
            "gatewayClassName: istio and listeners")


def local_kinds() -> str:
    """The kinds the local lab runs, by API."""
    istio = [k for k, group in TREE_GROUPS.items() if group == "networking.istio.io"]
    kubernetes = [k for k, group in TREE_GROUPS.items() if group in ("", "apps")]
    return f"{', '.join(kubernetes)}; Istio's {', '.join(istio)}; the Gateway API's {', '.join(CRD_FILES)}"


def quote_fix(value: object, key: str = "") -> str:
    """How to write, as text, a value YAML read as a number or a boolean. YAML has already changed
    what was written (`1.10` is the number 1.1, `yes` is true), so the fix asks for it as written."""
    shown, field = json.dumps(value), f"{key}: " if key else ""
    if isinstance(value, bool):
        return (f"quote it as you meant it, e.g. {field}\"yes\": unquoted, yes/no/on/off/true/false are read "
                f"as {shown}")
    if isinstance(value, float):
        return (f"quote it as you wrote it, e.g. {field}\"{shown}\" (unquoted, it is the number {shown}: a "
                "trailing 0, as in 1.10, is lost)")
    return f"quote it: {field}\"{shown}\""


def _check_type(value: object, type_name: str, path: str, where: str) -> None:
    """A single value of the leaf's type; bool is no number here, as JSON keeps them apart."""
    if isinstance(value, TYPED_LEAVES[type_name]) and (type_name == "boolean" or not isinstance(value, bool)):
        return
    shown = json.dumps(value)
    if type_name == "duration":
        fix = f"give it a unit: {shown}s (or ms, m, h)" if isinstance(value, (int, float)) else "e.g. 5s or 500ms"
    elif type_name == "string":
        fix = quote_fix(value)
    elif isinstance(value, str) and _parses_as(value, type_name):
        fix = f"write it without quotes: {value}"
    else:
        fix = f"give {TYPE_WORDS[type_name]} there"
    schema_type = "string" if type_name == "duration" else type_name
    raise ManifestError(f"{where}: {path} is {shown}, not {TYPE_WORDS[type_name]} (a cluster refuses it too: "
                        f"it must be of type {schema_type})", fix)


def _parses_as(text: str, type_name: str) -> bool:
    """Whether quoted text would be the wanted type unquoted: "50" for a whole number, "true"."""
    unquoted = {"boolean": r"true|false", "integer": r"-?[0-9]+", "number": r"-?[0-9]+(\.[0-9]+)?"}
    return type_name in unquoted and re.fullmatch(unquoted[type_name], text) is not None


def walk_fields(value: Any, tree: Any, path: str, where: str, unknown: Callable[[str, list[str]], None]) -> None:
    """Check `value` against a field tree: shapes (a single value, a list, a mapping), null list items,
    and each key; `unknown(field, known keys)` raises for a key the tree lacks. A null field is as good
    as absent, as the API server prunes it (apiextensions prunenulls.go)."""
    if value is None:
        return
    if is_leaf(tree):
        if isinstance(value, (dict, list)):
            raise ManifestError(f"{where}: {path} must be a single value, not a "
                                f"{'list' if isinstance(value, list) else 'mapping'}",
                                "write one value there (several retryOn policies are one text: 5xx,reset)"
                                if isinstance(value, list) else "check the indentation there")
        if tree != SCALAR:
            _check_type(value, tree, path, where)
        return
    if tree == MAP:
        if not isinstance(value, dict):
            raise ManifestError(f"{where}: {path} must be a mapping", "write it as key: value lines")
        return
    if isinstance(tree, list):
        if not isinstance(value, list):
            raise ManifestError(f"{where}: {path} must be a list", "start each item with '- '")
        for index, item in enumerate(value):
            if item is None:   # (the API server prunes a null field, never a null item)
                raise ManifestError(f"{where}: {path}[{index}] is empty (null); a cluster refuses it too",
                                    "remove the empty '-' item, or fill it in")
            walk_fields(item, tree[0], f"{path}[{index}]", where, unknown)
        return
    if not isinstance(value, dict):
        if isinstance(tree, dict) and "exact" in tree and not isinstance(value, list):   # Istio's StringMatch
            raise ManifestError(f"{where}: {path} is {value!r}, not a match: a value alone matches nothing",
                                f"write it as {{exact: {json.dumps(str(value))}}} (or prefix, or regex)")
        fields = [key for key in tree if key != "*"] if isinstance(tree, dict) else []
        if len(fields) == 1 and not isinstance(value, list):   # mirrorPercentage: 10
            raise ManifestError(f"{where}: {path} must be a mapping, not a single value",
                                f"write it as {path.rpartition('.')[2]}: {{{fields[0]}: {json.dumps(value)}}}")
        raise ManifestError(f"{where}: {path or 'the object'} must be a mapping", "check the indentation there")
    for key, item in value.items():
        child = f"{path}.{key}" if path else str(key)
        if "*" in tree or key in tree:
            walk_fields(item, tree["*"] if "*" in tree else tree[key], child, where, unknown)
        else:
            unknown(child, list(tree))
