"""The Gateway API CRDs' list limits, read from the CRDs the cluster installs (cluster/gateway-api/).

An API server refuses an HTTPRoute with 17 rules or 17 hostnames, a Gateway with 65 listeners:
each list's `maxItems` in the CRD's schema, and the HTTPRoute CRD's CEL rule on the matches of
all rules together. The numbers come from the vendored YAML, never retyped, so they follow the
pinned version.
"""

import re
from functools import lru_cache

import yaml

from lab.config import CLUSTER_DIR
from lab.errors import ManifestError
from lab.manifests import Ref

CRD_DIR = CLUSTER_DIR / "gateway-api"
CRD_FILES = {"Gateway": "gateways.yaml", "HTTPRoute": "httproutes.yaml", "ReferenceGrant": "referencegrants.yaml"}
# spec.rules' CEL rule: `(self.size() > 0 ? self[0].matches.size() : 0) + … <= 128`
TOTAL_MATCHES_RULE = re.compile(r"matches\.size\(\).*<=\s*(\d+)\s*$", re.S)


@lru_cache(maxsize=None)
def limits(kind: str, version: str) -> tuple[dict[str, int], int | None]:
    """({"rules[].matches": 64, …}, the cap on matches across rules) for the kind at `version`
    (or the CRD's storage version when it does not serve that one)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # 430 KB: the C loader reads it in 0.15 s
    crd = yaml.load((CRD_DIR / CRD_FILES[kind]).read_text(), Loader=loader)
    versions = crd["spec"]["versions"]
    chosen = next((v for v in versions if v["name"] == version), None) or next(v for v in versions if v.get("storage"))
    spec = chosen["schema"]["openAPIV3Schema"]["properties"]["spec"]
    found: dict[str, int] = {}
    _walk(spec, "", found)
    total = None
    for rule in ((spec.get("properties") or {}).get("rules") or {}).get("x-kubernetes-validations") or []:
        match = TOTAL_MATCHES_RULE.search(rule.get("rule", ""))
        total = int(match.group(1)) if match else total
    return found, total


def _walk(node: dict, path: str, found: dict[str, int]) -> None:
    if node.get("type") == "array":
        if "maxItems" in node:
            found[path] = node["maxItems"]
        _walk(node.get("items") or {}, path + "[]", found)
    for name, child in (node.get("properties") or {}).items():
        _walk(child, f"{path}.{name}" if path else name, found)


def check_limits(ref: Ref, obj: dict) -> None:
    kind, spec = obj["kind"], obj.get("spec") or {}
    if kind not in CRD_FILES or not isinstance(spec, dict):
        return
    version = str(obj.get("apiVersion", "")).rpartition("/")[2]
    per_list, total = limits(kind, version)
    for path, most in per_list.items():
        for where, value in _lists_at(spec, path.split("."), "spec"):
            if isinstance(value, list) and len(value) > most:
                raise ManifestError(f"{ref}: {where} has {len(value)} entries; the {kind} CRD allows at most {most} "
                                    "(a cluster's API server refuses it too)",
                                    f"keep {most} or fewer (split it across more {kind}s if need be)")
    rules = spec.get("rules")
    if total is not None and isinstance(rules, list):
        count = sum(len(r.get("matches") or []) for r in rules if isinstance(r, dict))
        if count > total:
            raise ManifestError(f"{ref}: spec.rules hold {count} matches together; the {kind} CRD allows at most "
                                f"{total} across all rules (a cluster's API server refuses it too)",
                                "merge matches, or split the rules across more HTTPRoutes")


def _lists_at(node, tokens: list[str], where: str):
    """(where, value) for each value at the schema path `tokens` ("rules[]", "matches") under node."""
    if not tokens:
        yield where, node
        return
    token, rest = tokens[0], tokens[1:]
    name = token.removesuffix("[]")
    child = node.get(name) if isinstance(node, dict) else None
    if child is None:
        return
    if token.endswith("[]"):
        for i, item in enumerate(child if isinstance(child, list) else []):
            yield from _lists_at(item, rest, f"{where}.{name}[{i}]")
    else:
        yield from _lists_at(child, rest, f"{where}.{name}")
