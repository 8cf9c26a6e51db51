"""The KIND a learner types (`invoke get httproute NAME`) → the Ref of the object it names.

Gateway API kinds are found like kubectl finds them: by kind, plural or short name, any case,
or as kind.group. A bare `Gateway` stays Istio's (networking.istio.io), the lab's first Gateway;
`gtw` (the CRD's short name) or `gateway.gateway.networking.k8s.io` names the Gateway API one.
"""

from lab.manifests import Ref

GATEWAY_API_GROUP = "gateway.networking.k8s.io"
GATEWAY_API_KINDS = {"httproute": "HTTPRoute", "httproutes": "HTTPRoute",
                     "referencegrant": "ReferenceGrant", "referencegrants": "ReferenceGrant", "refgrant": "ReferenceGrant",
                     "gtw": "Gateway"}
_BY_GROUP = {**GATEWAY_API_KINDS, "gateway": "Gateway", "gateways": "Gateway"}


def cli_ref(kind: str, namespace: str, name: str) -> Ref:
    base, _, group = kind.partition(".")
    if group == GATEWAY_API_GROUP and base.lower() in _BY_GROUP:
        return Ref(_BY_GROUP[base.lower()], namespace, name, GATEWAY_API_GROUP)
    if not group and base.lower() in GATEWAY_API_KINDS:
        return Ref(GATEWAY_API_KINDS[base.lower()], namespace, name, GATEWAY_API_GROUP)
    return Ref(kind, "" if kind == "Namespace" else namespace, name)
