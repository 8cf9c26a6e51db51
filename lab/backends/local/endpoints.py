"""Ready endpoints per Service and subset on the local lab: running pods whose labels match.

What Istio's gateway reads from EDS on a cluster, worked out here from the objects the lab
holds and the pods its supervisor runs: a split by replica counts follows these numbers, and
a route to a subset with none of them answers 503 (Envoy's UH).
"""

from lab.backends.local.pods import Pod, template_hash
from lab.manifests import Ref

CLUSTER_DOMAIN = "svc.cluster.local"


def service_named(host: str, namespace: str) -> Ref | None:
    """The Service a destination's or DestinationRule's host names, as istiod resolves it
    (pilot/pkg/model/config.go, ResolveShortnameToFQDN): a name without a dot is
    `<name>.<the object's namespace>.svc.cluster.local`, a name with dots is taken as written, and a
    Kubernetes Service's hostname is `<name>.<namespace>.svc.cluster.local` only. So `shop.shop` or
    `shop.shop.svc` name no Service (None)."""
    if "." not in host:
        return Ref("Service", namespace, host)
    name, _, rest = host.partition(".")
    service_namespace, _, domain = rest.partition(".")
    return Ref("Service", service_namespace, name) if domain == CLUSTER_DOMAIN and service_namespace else None


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
    found: dict[str, dict] = {}
    for ref, rule in objects.items():
        if ref.kind != "DestinationRule":
            continue
        spec = rule.get("spec") or {}
        if service_named(str(spec.get("host", "")), ref.namespace) == service:
            found |= {str(s.get("name")): dict(s.get("labels") or {}) for s in spec.get("subsets") or []}
    return found


def _count(pods: list[tuple[str, dict]], namespace: str, labels: dict) -> int:
    return sum(1 for ns, pod in pods if ns == namespace and all(pod.get(k) == v for k, v in labels.items()))


def target_port(service_port: dict):
    """A Service port's targetPort: a number, a container port's name, or (left out, 0 or "": Kubernetes'
    SetDefaults_Service) the port itself."""
    return service_port.get("targetPort") or service_port.get("port")


def serves(pod: Pod, service_port: dict) -> bool:
    """Whether a cluster's Service port would reach this pod's app. A named targetPort resolves to
    the container port of that name (none: the pod is no endpoint, as the endpoints controller
    skips it); the number must be where the image's app listens, else a cluster's connections are
    refused. Either way the gateway answers 503."""
    target = target_port(service_port)
    if isinstance(target, str):
        target = pod.container_ports.get(target)
        if target is None:
            return False
    return pod.listens_on is None or target == pod.listens_on


def target_port_notes(objects: dict[Ref, dict], pods: dict[str, Pod]) -> list[tuple[Ref, str]]:
    """One line per Service port that selects pods but reaches none of them, for the Service and
    for the Deployments of those pods (whichever of them an apply changed prints it)."""
    notes = []
    for ref, service in sorted(objects.items()):
        if ref.kind != "Service":
            continue
        selector = dict((service.get("spec") or {}).get("selector") or {})
        selected = [p for p in pods.values() if p.namespace == ref.namespace and selector
                    and all(p.labels.get(k) == v for k, v in selector.items())]
        for entry in (service.get("spec") or {}).get("ports") or []:
            if not selected or any(serves(p, entry) for p in selected):
                continue
            pod, target = selected[0], target_port(entry)
            if isinstance(target, str) and target not in pod.container_ports:
                named = ", ".join(sorted(pod.container_ports)) or "none"
                why = f"no container port of {pod.deployment}'s pods is named {target} (named: {named})"
            else:
                number = pod.container_ports.get(target, target) if isinstance(target, str) else target
                why = f"{pod.deployment}'s pods listen on {pod.listens_on} (their image's port), not {number}"
            text = (f"{ref} port {entry.get('port')} targets {target}, but {why}: as on a cluster it has no "
                    "endpoint there and requests get 503 (fix targetPort or the container's ports)")
            owners = sorted({Ref("Deployment", p.namespace, p.deployment) for p in selected})
            notes += [(ref, text)] + [(owner, text) for owner in owners]
    return notes
