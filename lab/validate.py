"""Checks that hold on every backend: what the Kubernetes API server and Istio would refuse.

Every path that changes objects (apply, patch, helm, exercise steps) calls `validate` on each object,
and `validate_update` with what is stored, before anything is changed; both backends call them. The
rules are the API server's (apiVersion per kind as it serves them, DNS-1123 names, label syntax, whole
numbers in range, an immutable Deployment selector), the Gateway API CRDs' (lab/gateway_api_crds.py)
and Istio's webhook's (lab/validate_istio.py). The lab's one stricter rule, weights adding up to 100,
says it is the lab's convention.
"""

import json
import re

from lab.api_fields import check_known, integral_numbers_as_stored, quote_fix
from lab.errors import ManifestError
from lab.gateway_api_crds import CRD_FILES, GROUP as GATEWAY_API_GROUP, served_versions
from lab.labels import key_problem, value_problem
from lab.manifests import Ref, ref_of
from lab.validate_istio import check_destination_rule, check_gateway, check_virtual_service, port_problem, whole_number

ISTIO_NETWORKING = tuple(f"networking.istio.io/{v}" for v in ("v1", "v1beta1", "v1alpha3"))
# What the API server serves for each kind the lab knows (other kinds are the backend's to refuse):
# Istio's CRDs serve v1, v1beta1 and v1alpha3 (manifests/charts/base/files/crd-all.gen.yaml).
API_VERSIONS = {
    "Namespace": ("v1",), "Service": ("v1",), "Deployment": ("apps/v1",),
    "Gateway": ISTIO_NETWORKING, "VirtualService": ISTIO_NETWORKING, "DestinationRule": ISTIO_NETWORKING,
}
# apimachinery validation.go: IsDNS1123Label, IsDNS1123Subdomain; core validation ValidateServiceName
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
# validation.IsValidPortName (IANA_SVC_NAME): 1-15 of [-a-z0-9], a letter, no '-' at an end, no "--"
PORT_NAME = re.compile(r"(?=.*[a-z])(?!-)(?!.*--)[-a-z0-9]{1,15}(?<!-)\Z")
PORT_FIX = "a port is a whole number from 1 to 65535, written without quotes"

__all__ = ["is_gateway_api", "route_weights", "validate", "validate_identity", "validate_update", "whole_number"]


def validate_identity(obj: dict) -> None:
    """apiVersion, kind and names: before anything reads the object's spec."""
    kind, meta = obj.get("kind"), obj.get("metadata")
    # A kind lower-cased is a DNS-1035 label, or no CRD could name it (apiextensions validation:
    # ValidateCustomResourceDefinitionNames), nor any built-in API.
    if not isinstance(kind, str) or not DNS1035_LABEL.match(kind.lower()) or len(kind) > 63:
        raise ManifestError(f"kind is {kind!r}, not the name of a kind", "e.g. kind: Service")
    if not isinstance(meta, dict):
        raise ManifestError(f"{kind}: metadata must be a mapping", "give it a name: metadata: {name: my-app}")
    _check_api_version(obj)
    _check_names(obj)
    integral_numbers_as_stored(obj)   # (every later rule reads `weight: 50.0` as a cluster stores it: 50)


def validate(obj: dict) -> None:
    validate_identity(obj)
    check_known(obj, str(ref_of(obj)))   # typos: a kind or field no real API has
    if is_gateway_api(obj):   # its fields and values: the CRDs (gateway_api_limits.py, gateway_api_schema.py)
        return
    check = {"VirtualService": check_virtual_service, "DestinationRule": check_destination_rule,
             "Gateway": check_gateway, "Service": _check_service, "Deployment": _check_deployment}.get(obj["kind"])
    if check:
        check(obj)


def validate_update(old: dict | None, new: dict) -> None:
    """What the API server refuses in a change to a stored object. A Deployment's spec.selector is
    immutable in apps/v1 (pkg/registry/apps/deployment/strategy.go ValidateUpdate:
    ValidateImmutableField(newDeployment.Spec.Selector, oldDeployment.Spec.Selector, spec.selector))."""
    if old is None or new.get("kind") != "Deployment" or old.get("kind") != "Deployment":
        return
    before, after = (old.get("spec") or {}).get("selector"), (new.get("spec") or {}).get("selector")
    if before != after:
        raise ManifestError(f"{ref_of(new)}: spec.selector: Invalid value: {after}: field is immutable (the API "
                            f"server refuses to change a Deployment's selector; it is {before})",
                            "keep the selector as it is, or delete the Deployment and apply it again "
                            f"(`invoke delete deploy {ref_of(new).name} -n {ref_of(new).namespace}`)")


def is_gateway_api(obj: dict) -> bool:
    return str(obj.get("apiVersion", "")).startswith(GATEWAY_API_GROUP + "/")


def route_weights(routes: list[dict]) -> list[int]:
    """Effective weights: a lone destination gets 100, as Istio does."""
    if len(routes) == 1:
        return [100]
    return [int(r.get("weight", 0)) for r in routes]


def _check_api_version(obj: dict) -> None:
    kind, api_version = obj["kind"], obj.get("apiVersion")
    name = (obj.get("metadata") or {}).get("name")
    if is_gateway_api(obj):   # as the vendored CRDs serve it (v1 and v1beta1 in v1.6.0)
        served = tuple(f"{GATEWAY_API_GROUP}/{v}" for v in served_versions(kind)) if kind in CRD_FILES else ()
    else:
        served = API_VERSIONS.get(kind, ())
    if served and api_version not in served:
        raise ManifestError(f"{kind} {name}: apiVersion {api_version!r} does not serve kind {kind} (a cluster "
                            "refuses it too)", f"use apiVersion {' or '.join(served)}")


def _check_names(obj: dict) -> None:
    kind, meta = obj["kind"], obj["metadata"]
    rule, what = (DNS1123_LABEL, "a DNS-1123 label") if kind == "Namespace" else \
        (DNS1035_LABEL, "a DNS-1035 label") if kind == "Service" else (DNS1123_SUBDOMAIN, "a DNS-1123 subdomain")
    _check_name(f"{kind} metadata.name", meta.get("name"), rule, 63 if kind in ("Namespace", "Service") else 253,
                what)
    if "namespace" in meta and kind != "Namespace":
        _check_name(f"{kind} {meta.get('name')}: metadata.namespace", meta["namespace"], DNS1123_LABEL, 63,
                    "a DNS-1123 label")
    _check_labels(f"{kind} {meta.get('name')}: metadata.labels", meta.get("labels"))
    _check_labels(f"{kind} {meta.get('name')}: metadata.annotations", meta.get("annotations"), values_are_labels=False)


def _check_name(where: str, value: object, rule: re.Pattern, limit: int, what: str) -> None:
    if not isinstance(value, str):
        raise ManifestError(f"{where} is {value!r}, not a string",
                            f"quote it (name: \"{value}\") or use a name of lowercase letters, digits and '-'")
    if len(value) > limit or not rule.match(value):
        raise ManifestError(f"{where} {value!r} is not {what}; Kubernetes refuses it",
                            f"use lowercase letters, digits and '-', starting and ending with a letter or digit, "
                            f"at most {limit} characters")


def _check_deployment(deployment: dict) -> None:
    ref, spec = ref_of(deployment), deployment.get("spec") or {}
    replicas = spec.get("replicas", 1)
    if not whole_number(replicas) or replicas < 0:
        raise ManifestError(f"{ref}: spec.replicas is {replicas!r}; Kubernetes refuses it",
                            "replicas is a whole number, 0 or more, written without quotes (e.g. replicas: 2)")
    _check_labels(f"{ref}: spec.selector.matchLabels", (spec.get("selector") or {}).get("matchLabels"))
    _check_labels(f"{ref}: spec.template.metadata.labels",
                  ((spec.get("template") or {}).get("metadata") or {}).get("labels"))
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    for i, container in enumerate(containers):
        for j, port in enumerate(container.get("ports") or []):
            _check_port(ref, f"containers[{i}].ports[{j}].containerPort", port.get("containerPort"))


def _check_service(service: dict) -> None:
    ref = ref_of(service)
    _check_labels(f"{ref}: spec.selector", (service.get("spec") or {}).get("selector"))
    for i, port in enumerate((service.get("spec") or {}).get("ports") or []):
        _check_port(ref, f"spec.ports[{i}].port", port.get("port"))
        target = port.get("targetPort")
        # 0 (like "" or none) is defaulted to the port (pkg/apis/core/v1/defaults.go SetDefaults_Service)
        if target is not None and not isinstance(target, str) and target != 0:
            _check_port(ref, f"spec.ports[{i}].targetPort", target)
        if isinstance(target, str) and target and not PORT_NAME.match(target):
            raise ManifestError(f"{ref}: spec.ports[{i}].targetPort {json.dumps(target)} is neither a port number "
                                "nor a port name; Kubernetes refuses it",
                                f"write it without quotes: {target}" if target.isdigit() else
                                "a port name is at most 15 lowercase letters, digits and '-', with a letter")


def _check_port(ref: Ref, where: str, value: object) -> None:
    """validation.IsValidPortNum: 1..65535 (a Service's port, targetPort and a containerPort)."""
    if port_problem(value):
        raise ManifestError(f"{ref}: {where} is {value!r}; Kubernetes refuses it", PORT_FIX)


def _check_labels(where: str, labels: object, values_are_labels: bool = True) -> None:
    """Kubernetes labels (and selectors) map qualified names to label values (lab/labels.py):
    `version: 1` (a number), `app: my app` or a 64-character value are refused by the API server,
    so the lab refuses them too. Annotations share the key rule; their values are any string."""
    if labels is None:
        return
    if not isinstance(labels, dict):
        raise ManifestError(f"{where} must be a mapping", "write labels as key: value lines")
    for key, value in labels.items():
        problem = key_problem(key) if isinstance(key, str) else "is not a string"
        if problem:
            raise ManifestError(f"{where}: key {key!r} {problem}; Kubernetes refuses it",
                                "use a key like app or example.com/app (at most 63 characters after the '/')")
        if not isinstance(value, str):
            raise ManifestError(f"{where}.{key} is {json.dumps(value)}, not text; Kubernetes refuses it",
                                quote_fix(value, str(key)))
        problem = value_problem(value) if values_are_labels else None
        if problem:
            raise ManifestError(f"{where}.{key} {value!r} {problem}; Kubernetes refuses it",
                                "use letters, digits, '-', '_' and '.', e.g. v2 (or an empty string)")
