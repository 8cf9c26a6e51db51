"""What the Gateway API CRDs the cluster installs (cluster/gateway-api/) make an API server refuse, read
from their schemas, never retyped, so the rules follow the pinned version.

Each version's OpenAPI schema (lab/gateway_api_crds.py): an HTTPRoute with 17 rules, a Gateway with 65
listeners (maxItems), a ReferenceGrant without `spec.to` (required), an empty `from` (minItems), a
section name with a space (pattern). And one CEL rule: the matches of all an HTTPRoute's rules together.
"""

import re

from lab.errors import ManifestError
from lab.gateway_api_crds import CRD_FILES, crd, schema_problems, spec_schema
from lab.manifests import Ref

# spec.rules' CEL rule: `(self.size() > 0 ? self[0].matches.size() : 0) + … <= 128`
TOTAL_MATCHES_RULE = re.compile(r"matches\.size\(\).*<=\s*(\d+)\s*$", re.DOTALL)


def total_matches_limit(kind: str, version: str) -> int | None:
    """The cap on matches across an HTTPRoute's rules (its spec.rules CEL rule), or None."""
    if kind not in CRD_FILES:
        return None
    rules = (spec_schema(kind, version).get("properties") or {}).get("rules") or {}
    total = None
    for rule in rules.get("x-kubernetes-validations") or []:
        match = TOTAL_MATCHES_RULE.search(rule.get("rule", ""))
        total = int(match.group(1)) if match else total
    return total


def check_limits(ref: Ref, obj: dict) -> None:
    """Refuse what the kind's CRD schema refuses, naming the field (the first problem found)."""
    kind, spec = obj["kind"], obj.get("spec")
    if kind not in CRD_FILES:
        return
    version = str(obj.get("apiVersion", "")).rpartition("/")[2]
    for field in crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"].get("required") or []:
        if obj.get(field) is None:
            raise ManifestError(f"{ref}: {field} is required by the {kind} CRD (a cluster's API server refuses "
                                "it too)", f"add {field}")
    for where, why, fix in schema_problems(spec_schema(kind, version), spec, "spec"):
        raise ManifestError(f"{ref}: {where} {why.replace('the CRD', f'the {kind} CRD')} (a cluster's API server "
                            "refuses it too)", fix)
    total, rules = total_matches_limit(kind, version), (spec or {}).get("rules")
    if total is not None and isinstance(rules, list):
        count = sum(len(r.get("matches") or []) for r in rules if isinstance(r, dict))
        if count > total:
            raise ManifestError(f"{ref}: spec.rules hold {count} matches together; the {kind} CRD allows at most "
                                f"{total} across all rules (a cluster's API server refuses it too)",
                                "merge matches, or split the rules across more HTTPRoutes")
