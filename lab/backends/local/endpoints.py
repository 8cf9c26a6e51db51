"""Ready endpoints per Service and subset on the local lab: running pods whose labels match.

What Istio's gateway reads from EDS on a cluster, worked out here from the objects the lab
holds and the pods its supervisor runs: a split by replica counts follows these numbers, and
a route to a subset with none of them answers 503 (Envoy's UH).
"""

from lab.backends.local.pods import template_hash
from lab.manifests import Ref


def ready_endpoints(objects: dict[Ref, dict], running: set[str]) -> dict[tuple[str, str], int]:
    """(Service name.namespace, subset or "") → how many running pods it selects. `running` holds
    the supervisor's names of running pods (`<namespace>/<deployment>-<template hash>-<i>`)."""
    pods = _running_pod_labels(objects, running)
    counts: dict[tuple[str, str], int] = {}
    for ref, service in objects.items():
        if ref.kind != "Service":
            continue
        selector = dict((service.get("spec") or {}).get("selector") or {})
        if not selector:
            continue   # a Service without a selector has no pods of its own
        service_name = f"{ref.name}.{ref.namespace}"
        counts[service_name, ""] = _count(pods, ref.namespace, selector)
        for subset, labels in _subsets(objects, ref).items():
            counts[service_name, subset] = _count(pods, ref.namespace, {**selector, **labels})
    return counts


def _running_pod_labels(objects: dict[Ref, dict], running: set[str]) -> list[tuple[str, dict]]:
    pods = []
    for ref, deployment in objects.items():
        if ref.kind != "Deployment":
            continue
        template = (deployment.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        prefix = f"{ref.namespace}/{ref.name}-{template_hash(deployment)}-"
        pods += [(ref.namespace, labels) for name in running if name.startswith(prefix)
                 and name[len(prefix):].isdigit()]
    return pods


def _subsets(objects: dict[Ref, dict], service: Ref) -> dict[str, dict]:
    """Subsets the DestinationRules for this Service define, name → labels."""
    found = {}
    for ref, rule in objects.items():
        if ref.kind != "DestinationRule":
            continue
        spec = rule.get("spec") or {}
        host = str(spec.get("host", "")).split(".")
        if host[0] == service.name and (host[1] if len(host) > 1 else ref.namespace) == service.namespace:
            found |= {str(s.get("name")): dict(s.get("labels") or {}) for s in spec.get("subsets") or []}
    return found


def _count(pods: list[tuple[str, dict]], namespace: str, labels: dict) -> int:
    return sum(1 for ns, pod in pods if ns == namespace and all(pod.get(k) == v for k, v in labels.items()))
