"""Kind names as kubectl takes them: any case, singular or plural, short names (vs, dr, gw, svc,
deploy, ns), or with the API group (virtualservice.networking.istio.io).

Gateway API kinds are found the same way (httproute, referencegrant). A bare `Gateway` stays
Istio's (networking.istio.io), the lab's first Gateway; `gtw` (the CRD's short name) or
`gateway.gateway.networking.k8s.io` names the Gateway API one.
"""

import difflib
from dataclasses import dataclass

from lab.errors import LabError
from lab.manifests import CLUSTER_SCOPED, Ref

GATEWAY_API_GROUP = "gateway.networking.k8s.io"


@dataclass(frozen=True)
class Kind:
    name: str                     # VirtualService
    plural: str                   # virtualservices
    shorts: tuple[str, ...] = ()  # kubectl's short names: vs
    group: str = ""               # set only for the Gateway API, as Ref.group is

    @property
    def namespaced(self) -> bool:
        return self.name not in CLUSTER_SCOPED

    def ref(self, namespace: str, name: str) -> Ref:
        return Ref(self.name, namespace if self.namespaced else "", name, self.group)


KINDS = (
    Kind("Namespace", "namespaces", ("ns",)),
    Kind("Service", "services", ("svc",)),
    Kind("Deployment", "deployments", ("deploy",)),
    Kind("Pod", "pods", ("po",)),   # the local lab's are its processes (lab/backends/local/pod_objects.py)
    Kind("Secret", "secrets"),
    Kind("HorizontalPodAutoscaler", "horizontalpodautoscalers", ("hpa",)),
    Kind("Gateway", "gateways", ("gw",)),
    Kind("VirtualService", "virtualservices", ("vs",)),
    Kind("DestinationRule", "destinationrules", ("dr",)),
    Kind("PeerAuthentication", "peerauthentications", ("pa",)),
    Kind("Certificate", "certificates", ("cert", "certs")),
    Kind("Issuer", "issuers"),
    Kind("ClusterIssuer", "clusterissuers"),
    Kind("HTTPRoute", "httproutes", (), GATEWAY_API_GROUP),
    Kind("ReferenceGrant", "referencegrants", ("refgrant",), GATEWAY_API_GROUP),
    Kind("Gateway", "gateways", ("gtw",), GATEWAY_API_GROUP),
)

# Istio's Gateway comes first in KINDS, so a bare `gateway` names it.
_NAMES: dict[str, Kind] = {}
for _kind in KINDS:
    for _spelling in (_kind.name.lower(), _kind.plural, *_kind.shorts):
        _NAMES.setdefault(_spelling, _kind)


def resolve_kind(text: str) -> Kind:
    """The kind named by any spelling kubectl accepts, `kind.group` included."""
    spelling, _, group = text.strip().lower().partition(".")
    if group == GATEWAY_API_GROUP:
        found = next((k for k in KINDS if k.group == group and spelling in (k.name.lower(), k.plural, *k.shorts)), None)
        if found:
            return found
    elif spelling in _NAMES and (not group or _in_group(_NAMES[spelling], group)):
        return _NAMES[spelling]
    close = difflib.get_close_matches(spelling, list(_NAMES), n=1, cutoff=0.5)
    hint = f"did you mean {_NAMES[close[0]].name} ({close[0]})? " if close else ""
    known = ", ".join(dict.fromkeys(f"{k.name} ({k.shorts[0]})" if k.shorts else k.name for k in KINDS))
    raise LabError(f"unknown kind {text!r}", f"{hint}kinds: {known}")


# The API group of each kind above that is not the Gateway API's (core kinds: ""), for `kind.group`.
API_GROUPS = {"Deployment": "apps", "HorizontalPodAutoscaler": "autoscaling", "Gateway": "networking.istio.io",
              "VirtualService": "networking.istio.io", "DestinationRule": "networking.istio.io",
              "PeerAuthentication": "security.istio.io", "Certificate": "cert-manager.io",
              "Issuer": "cert-manager.io", "ClusterIssuer": "cert-manager.io"}


def _in_group(kind: Kind, group: str) -> bool:
    """`group` names the kind's API group, alone or after a version (kubectl: deployments.v1.apps)."""
    own = API_GROUPS.get(kind.name, "")
    return bool(own) and (group == own or group.partition(".")[2] == own)


def kind_of(ref: Ref) -> Kind:
    return next((k for k in KINDS if (k.name, k.group) == (ref.kind, ref.group)),
                Kind(ref.kind, ref.kind.lower() + "s"))
