"""Kind names as kubectl takes them: any case, singular or plural, short names (vs, dr, gw, svc,
deploy, ns), or with the API group (virtualservice.networking.istio.io)."""

import difflib

from lab.errors import LabError
from lab.manifests import CLUSTER_SCOPED

# kind → (plural, kubectl's short names)
KINDS = {
    "Namespace": ("namespaces", ("ns",)),
    "Service": ("services", ("svc",)),
    "Deployment": ("deployments", ("deploy",)),
    "Secret": ("secrets", ()),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", ("hpa",)),
    "Gateway": ("gateways", ("gw",)),
    "VirtualService": ("virtualservices", ("vs",)),
    "DestinationRule": ("destinationrules", ("dr",)),
    "PeerAuthentication": ("peerauthentications", ("pa",)),
    "Certificate": ("certificates", ("cert", "certs")),
    "Issuer": ("issuers", ()),
    "ClusterIssuer": ("clusterissuers", ()),
}

_NAMES = {spelling: kind for kind, (plural, shorts) in KINDS.items()
          for spelling in (kind.lower(), plural, *shorts)}


def resolve_kind(text: str) -> str:
    """The kind's own name (VirtualService) for any spelling kubectl accepts."""
    spelling = text.strip().lower().split(".", 1)[0]   # virtualservice.networking.istio.io → virtualservice
    if spelling in _NAMES:
        return _NAMES[spelling]
    close = difflib.get_close_matches(spelling, list(_NAMES), n=1, cutoff=0.5)
    hint = f"did you mean {_NAMES[close[0]]} ({close[0]})? " if close else ""
    raise LabError(f"unknown kind {text!r}",
                   f"{hint}kinds: {', '.join(f'{k} ({s[0]})' if s else k for k, (_, s) in KINDS.items())}")


def namespaced(kind: str) -> bool:
    return kind not in CLUSTER_SCOPED
