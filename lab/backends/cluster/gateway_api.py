"""The Kubernetes Gateway API on a cluster: its CRDs, and the gateways Istio deploys for Gateways.

The CRDs are the standard channel of the pinned GATEWAY_API (versions.py), vendored in
cluster/gateway-api/ from kubernetes-sigs/gateway-api config/crd/standard. Istio 1.31 is built
against that version (istio release-1.31 go.mod: sigs.k8s.io/gateway-api v1.6.0) and does not
install the CRDs itself: they go in before Istio, so istiod starts with the kinds it watches.

For a Gateway of class `istio`, istiod deploys a gateway of its own (automated deployment, istio
pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go and gateway_utils.go GetDefaultName:
a Deployment and a Service named `<gateway>-istio` in the Gateway's namespace, labelled
`gateway.networking.k8s.io/gateway-name`; files/kube-gateway.yaml of the istio-discovery chart).
"""

import copy
import functools

import yaml

from lab.backends.cluster.kube import Kube, deployment_available
from lab.backends.local.gateway_api import admit
from lab.config import CLUSTER_DIR, LOCAL_CREDENTIAL
from lab.hosts import subset_of
from lab.manifests import Ref, load_manifest_file, ref_of

GROUP = "gateway.networking.k8s.io"
CLASS = "istio"
CRD_DIR = CLUSTER_DIR / "gateway-api"
CLASS_DEFAULTS = CLUSTER_DIR / "gateway-class-defaults.yaml"
BUNDLE_VERSION = f"{GROUP}/bundle-version"   # the annotation each CRD of a release carries
GATEWAY_NAME_LABEL = f"{GROUP}/gateway-name"


def vendored_crds() -> list[dict]:
    return copy.deepcopy(_parsed_crds())


@functools.cache
def _parsed_crds() -> list[dict]:
    """The lab's own vendored files (10,000 lines): read once, with libyaml where PyYAML has it (the
    pure-Python parser took 6 s of each `up` on a busy machine)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [crd for path in sorted(CRD_DIR.glob("*.yaml")) for crd in yaml.load_all(path.read_text(), Loader=loader)
            if crd]


def crd_ref(crd: dict) -> Ref:
    return Ref("CustomResourceDefinition", "", crd["metadata"]["name"])


def bundle_version(crd: dict | None) -> str:
    return ((crd or {}).get("metadata") or {}).get("annotations", {}).get(BUNDLE_VERSION, "")


def crds_to_apply(kube: Kube, only_missing: bool) -> tuple[list[dict], list[str]]:
    """The vendored CRDs to server-side apply, and notes on those left alone. On a cluster the lab
    made, a CRD of another bundle version is brought to the pinned one; on a cluster it did not
    make (`only_missing`), a CRD already there is never touched, whatever its version (never a
    downgrade): others' objects depend on it, and the Istio there may need it as it is."""
    wanted, notes = [], []
    for crd in vendored_crds():
        found = kube.get(crd_ref(crd))
        if found is None or not only_missing and bundle_version(found) != bundle_version(crd):
            wanted.append(crd)
        elif bundle_version(found) != bundle_version(crd):
            theirs = bundle_version(found) or "an unknown version"
            notes.append(f"the cluster's CRD {crd['metadata']['name']} is at {theirs}, not {bundle_version(crd)}: "
                         "kept as it is (the lab did not install it)")
    return wanted, notes


def apply_class_defaults(kube: Kube) -> None:
    """Istio's per-class defaults (a ConfigMap in istio-system labelled
    gateway.istio.io/defaults-for-class, merged over every deployed gateway: deploymentcontroller.go
    render): the Service of a deployed gateway is ClusterIP, not the class's default LoadBalancer
    (classinfo.go). On k3d a second LoadBalancer on 80/443 could never bind the node ports the
    ingress gateway's holds (k3s servicelb runs one hostPort pod per Service port), and kind and
    minikube have no load balancer: it would stay <pending>. The lab reaches it by port-forward."""
    for obj in load_manifest_file(CLASS_DEFAULTS):
        kube.apply(obj)


def gateways(kube: Kube) -> list[dict]:
    """The Gateway API Gateways of class istio, in every namespace."""
    return [g for g in kube.list_all("Gateway", GROUP) if (g.get("spec") or {}).get("gatewayClassName") == CLASS]


# An annotation naming the deployed gateway's Deployment and Service instead of <gateway>-<class>
# (deploymentcontroller.go: DeploymentName = GetOrDefault(annotations[GatewayNameOverride], default);
# kube-gateway.yaml names both by .DeploymentName).
NAME_OVERRIDE = "gateway.istio.io/name-override"


def deployed_name(gateway: dict) -> str:
    annotations = (gateway.get("metadata") or {}).get("annotations") or {}
    return annotations.get(NAME_OVERRIDE) or f"{gateway['metadata']['name']}-{CLASS}"


def deployment_ref(gateway: dict) -> Ref:
    return Ref("Deployment", gateway["metadata"].get("namespace") or "default", deployed_name(gateway))


def deployed(kube: Kube, gateway: dict) -> bool:
    found = kube.get(deployment_ref(gateway))
    return found is not None and deployment_available(found)


def listener_port(gateway: dict, protocol: str) -> int | None:
    """The first listener's port of a protocol (HTTP, HTTPS): the deployed Service's port for it
    (kube-gateway.yaml: one Service port per listener port)."""
    for listener in (gateway.get("spec") or {}).get("listeners") or []:
        if str(listener.get("protocol", "")).upper() == protocol:
            return int(listener["port"])
    return None


def hostname_covers(hostname: str | None, host: str) -> bool:
    """A listener's hostname is the host, or a wildcard that covers it (a listener without one
    takes any host: which Gateway serves it then is the HTTPRoutes' to say)."""
    return bool(hostname) and subset_of(host, str(hostname))


def is_route(obj: dict) -> bool:
    return obj.get("kind") == "HTTPRoute" and str(obj.get("apiVersion", "")).startswith(GROUP + "/")


def is_gateway(obj: dict) -> bool:
    return obj.get("kind") == "Gateway" and str(obj.get("apiVersion", "")).startswith(GROUP + "/")


def _as_modelled(obj: dict) -> dict:
    """As the lab's model of istiod (the local translator) takes it: with the CRDs' defaults (an API
    server fills them in; the local lab's admit does the same), every HTTPS listener on the one
    certificate the model knows (it needs only which hosts each listener serves)."""
    obj = admit(copy.deepcopy(obj), None)
    if is_gateway(obj):
        for listener in obj["spec"].get("listeners") or []:
            if str(listener.get("protocol", "")).upper() == "HTTPS":
                listener["tls"] = {"mode": "Terminate", "certificateRefs": [{"group": "", "kind": "Secret",
                                                                             "name": LOCAL_CREDENTIAL}]}
    return obj


def routes_model(kube: Kube, changed: list[dict]) -> tuple[list[dict], list[dict]]:
    """For changed HTTPRoutes and Gateways: (what istiod needs to build their gateways' routes —
    the HTTPRoutes of their namespaces and every one attached to the changed Gateways or to the
    changed routes' parents (istiod serves a Gateway the rules of every route it accepts, from any
    namespace), parent Gateways, backend Services, ReferenceGrants and Namespaces —, the Gateways,
    whose deployments must run first)."""
    context: dict[Ref, dict | None] = {ref_of(o): o for o in changed}   # None: asked for, not there
    namespaces = {ref_of(o).namespace for o in changed if is_route(o)}
    gateways = {ref_of(o) for o in changed if is_gateway(o)}
    gateways |= {parent for o in changed if is_route(o) for parent in _parents(o)}
    for route in kube.list_all("HTTPRoute", GROUP):   # the neighbours, and every route of those Gateways
        ref = ref_of(route)
        if ref.namespace in namespaces or _parents(route) & gateways:
            context.setdefault(ref, route)
    routes = [o for o in context.values() if o is not None and is_route(o)]
    for route in routes:
        namespace = ref_of(route).namespace
        context.setdefault(Ref("Namespace", "", namespace), kube.get(Ref("Namespace", "", namespace)))
        spec = route.get("spec") or {}
        for parent in spec.get("parentRefs") or []:
            if parent.get("kind", "Gateway") == "Gateway":
                ref = Ref("Gateway", parent.get("namespace") or namespace, parent["name"], GROUP)
                context.setdefault(ref, kube.get(ref))
        for service in backend_services(route):
            context.setdefault(service, kube.get(service))
            if service.namespace != namespace:
                for grant in kube.list("ReferenceGrant", service.namespace, GROUP):
                    context.setdefault(ref_of(grant), grant)
    # A backend's DestinationRule hashes its routes too (istiod applies it to HTTPRoute backends alike)
    for namespace in sorted({ref.namespace for ref in context if ref.kind == "Service"}):
        for rule in kube.list("DestinationRule", namespace):
            context.setdefault(ref_of(rule), rule)
    found = {ref: obj for ref, obj in context.items() if obj is not None}
    parents = [o for o in found.values() if is_gateway(o) and (o.get("spec") or {}).get("gatewayClassName") == CLASS]
    return [_as_modelled(o) for o in found.values()], parents


def backend_services(route: dict) -> set[Ref]:
    """The Services an HTTPRoute's rules send to or mirror to (a RequestMirror filter's backendRef, on
    the rule or on a backendRef); a backendRef's namespace defaults to the route's."""
    namespace = ref_of(route).namespace
    refs: list[dict] = []
    for rule in (route.get("spec") or {}).get("rules") or []:
        backends = rule.get("backendRefs") or []
        refs += backends
        for holder in (rule, *backends):
            refs += [(f.get("requestMirror") or {}).get("backendRef") or {} for f in holder.get("filters") or []]
    return {Ref("Service", ref.get("namespace") or namespace, ref["name"]) for ref in refs
            if ref.get("kind", "Service") == "Service" and not ref.get("group") and ref.get("name")}


def _parents(route: dict) -> set[Ref]:
    """The Gateways an HTTPRoute's parentRefs name (a parentRef's namespace defaults to the route's)."""
    namespace = ref_of(route).namespace
    return {Ref("Gateway", p.get("namespace") or namespace, p.get("name", ""), GROUP)
            for p in (route.get("spec") or {}).get("parentRefs") or [] if p.get("kind", "Gateway") == "Gateway"}
