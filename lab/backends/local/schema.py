"""The fields the local lab implements, kind by kind.

A field outside this tree is an error naming the field — the local lab never
silently ignores what it cannot do. Leaves: SCALAR (any scalar), MAP (any
string map, e.g. labels), [x] (a list of x), {key: x} (an object).
"""

from collections.abc import Callable
from typing import NoReturn

from lab.api_fields import check_known, local_kinds, walk_fields
from lab.backends.local import gateway_api_schema
from lab.backends.local.gateway_api_limits import check_limits
from lab.errors import ManifestError
from lab.manifests import Ref, ref_of
from lab.validate import validate, validate_identity
from lab.validate_istio import JWT_CLAIM

SCALAR = "scalar"
MAP = "map"

_METADATA = {"name": SCALAR, "namespace": SCALAR, "labels": MAP, "annotations": MAP}
_STRING_MATCH = {"exact": SCALAR, "prefix": SCALAR, "regex": SCALAR}

SUPPORTED: dict[str, dict] = {
    "Namespace": {},
    "Deployment": {
        "replicas": SCALAR,
        "selector": {"matchLabels": MAP},
        "template": {
            "metadata": {"labels": MAP, "annotations": MAP},
            "spec": {"containers": [{
                "name": SCALAR, "image": SCALAR, "imagePullPolicy": SCALAR,
                "ports": [{"containerPort": SCALAR, "name": SCALAR, "protocol": SCALAR}],
                "env": [{"name": SCALAR, "value": SCALAR}],
            }]},
        },
    },
    "Service": {
        "selector": MAP,
        "type": SCALAR,
        "ports": [{"name": SCALAR, "port": SCALAR, "targetPort": SCALAR, "protocol": SCALAR}],
    },
    "Gateway": {
        "selector": MAP,
        "servers": [{
            "port": {"number": SCALAR, "name": SCALAR, "protocol": SCALAR},
            "hosts": [SCALAR],
            "tls": {"mode": SCALAR, "credentialName": SCALAR},
        }],
    },
    "VirtualService": {
        "hosts": [SCALAR],
        "gateways": [SCALAR],
        "http": [{
            "name": SCALAR,
            "match": [{"uri": _STRING_MATCH, "headers": {"*": _STRING_MATCH}, "name": SCALAR}],
            "route": [{
                "destination": {"host": SCALAR, "subset": SCALAR, "port": {"number": SCALAR}},
                "weight": SCALAR,
            }],
            # served as istiod serves them: route_policies.py
            "timeout": SCALAR,
            "retries": {"attempts": SCALAR, "perTryTimeout": SCALAR, "retryOn": SCALAR},
            "mirror": {"host": SCALAR, "subset": SCALAR, "port": {"number": SCALAR}},
            "mirrorPercentage": {"value": SCALAR},
        }],
    },
    "DestinationRule": {
        "host": SCALAR,
        "subsets": [{"name": SCALAR, "labels": MAP}],
        "trafficPolicy": {   # destination_policies.py
            "outlierDetection": {"consecutive5xxErrors": SCALAR, "consecutiveGatewayErrors": SCALAR, "interval": SCALAR,
                                 "baseEjectionTime": SCALAR, "maxEjectionPercent": SCALAR, "minHealthPercent": SCALAR},
            "loadBalancer": {"consistentHash": {"httpCookie": {"name": SCALAR, "path": SCALAR, "ttl": SCALAR},
                                                "httpHeaderName": SCALAR, "httpQueryParameterName": SCALAR}}},
    },
}

CLUSTER_BACKENDS = "k3d or minikube (invoke up --provider k3d)"


def check_object(obj: dict) -> None:
    """All the local lab refuses in one object, before anything changes: its identity, then typos and
    what only a cluster supports, then what the API server and Istio refuse (lab/validate.py). Every
    local path that changes objects (apply, patch, helm, exercise steps) runs it (backend._apply)."""
    validate_identity(obj)
    check_supported(obj)
    validate(obj)
    if obj["kind"] == "VirtualService":   # (after Istio's own refusals)
        _refuse_cluster_only_routing(ref_of(obj), obj.get("spec") or {})


def check_supported(obj: dict) -> None:
    """Raise ManifestError for the first kind or field the local lab does not implement. A typo (no
    real API has it) is refused as one first (lab/api_fields.py): only what Istio, Kubernetes or the
    Gateway API really have gets the line that a cluster supports it."""
    ref = Ref(obj["kind"], (obj.get("metadata") or {}).get("namespace", ""), obj["metadata"]["name"])
    check_known(obj, str(ref))
    kinds, metadata = SUPPORTED, _METADATA
    if str(obj.get("apiVersion", "")).startswith(gateway_api_schema.GROUP + "/"):
        # Gateway API kinds: their own tree (a Gateway there is not Istio's), and the metadata the lab sets
        kinds, metadata = gateway_api_schema.SUPPORTED, {**_METADATA, **gateway_api_schema.SERVER_METADATA}
    if obj["kind"] in ("VirtualService", "DestinationRule"):   # set by the lab as by an API server (merge order)
        metadata = {**metadata, "creationTimestamp": SCALAR}
    if obj["kind"] not in kinds:
        raise ManifestError(
            f"{obj['kind']} {ref.name}: the local lab does not support kind {obj['kind']}",
            f"use {CLUSTER_BACKENDS}; locally: {local_kinds()}")
    top = {"apiVersion": SCALAR, "kind": SCALAR, "metadata": metadata,
           "spec": kinds[obj["kind"]], "status": MAP}
    walk_fields(obj, top, "", str(ref), _unsupported(ref))
    if kinds is gateway_api_schema.SUPPORTED:
        gateway_api_schema.check_values(ref, obj["kind"], obj.get("spec") or {})   # its own words first
        check_limits(ref, obj)   # then the rest of what the CRD's schema refuses


def _refuse_cluster_only_routing(ref: Ref, spec: dict) -> None:
    """What Istio accepts in fields the local lab has, and only a cluster serves."""
    if not spec.get("hosts"):   # Istio's ValidateVirtualService: no hosts means a delegate
        raise ManifestError(f"{ref}: spec.hosts is empty: a cluster takes it as a delegate VirtualService (one that "
                            "another's http[].delegate names), which the local lab does not support",
                            f"list the host names this VirtualService routes, or use {CLUSTER_BACKENDS}")
    for i, http in enumerate(spec.get("http") or []):
        for j, match in enumerate(http.get("match") or []):
            for name in (match or {}).get("headers") or {}:
                if JWT_CLAIM.match(str(name)):
                    raise ManifestError(f"{ref}: spec.http[{i}].match[{j}].headers.{name} routes by a JWT claim, "
                                        "which the local lab does not support (a cluster does, with a "
                                        "RequestAuthentication)", f"use {CLUSTER_BACKENDS}")


def _unsupported(ref: Ref) -> Callable[[str, list[str]], None]:
    def refuse(field: str, known: list[str]) -> NoReturn:   # a real field (check_known has refused typos)
        raise ManifestError(f"{ref}: field {field} is not supported by the local lab (a cluster supports it)",
                            f"remove it, or use {CLUSTER_BACKENDS}, which runs real Istio and Kubernetes")
    return refuse
