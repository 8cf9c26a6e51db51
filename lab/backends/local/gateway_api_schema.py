"""The Gateway API fields the local lab implements (gateway.networking.k8s.io/v1), as schema.py's tree.

Anything else — filters, queryParams, timeouts, other route kinds (GRPCRoute, TCPRoute) — is an
error naming the field. The value checks below are the ones the CRDs' own schemas and CEL rules
make the API server refuse (config/crd/standard in kubernetes-sigs/gateway-api v1.6.0, the pinned GATEWAY_API), so a
learner meets them at apply time, as on a cluster.
"""

import re
from typing import NoReturn

from lab.backends.local.route_policies import check_rule_policies
from lab.errors import ManifestError
from lab.manifests import Ref

GROUP = "gateway.networking.k8s.io"
SCALAR, MAP = "scalar", "map"   # schema.py's leaves

# Set by the lab as by an API server (route precedence needs creationTimestamp); `get` shows them.
SERVER_METADATA = {"creationTimestamp": SCALAR, "generation": SCALAR}
_LOCAL_REF = {"group": SCALAR, "kind": SCALAR, "name": SCALAR, "namespace": SCALAR}

SUPPORTED: dict[str, dict] = {
    "Gateway": {
        "gatewayClassName": SCALAR,
        "listeners": [{
            "name": SCALAR, "hostname": SCALAR, "port": SCALAR, "protocol": SCALAR,
            "tls": {"mode": SCALAR, "certificateRefs": [_LOCAL_REF]},
            "allowedRoutes": {"namespaces": {"from": SCALAR, "selector": {"matchLabels": MAP}},
                              "kinds": [{"group": SCALAR, "kind": SCALAR}]},
        }],
    },
    "HTTPRoute": {
        "parentRefs": [{**_LOCAL_REF, "sectionName": SCALAR}],
        "hostnames": [SCALAR],
        "rules": [{
            "name": SCALAR,
            "matches": [{"path": {"type": SCALAR, "value": SCALAR},
                         "headers": [{"type": SCALAR, "name": SCALAR, "value": SCALAR}],
                         "method": SCALAR}],
            # a backendRef's filters: the header modifiers are cluster-only here; any other type Istio
            # takes and fails the route with (gateway_api.py _resolve), so it is stored as a cluster would
            "backendRefs": [{**_LOCAL_REF, "port": SCALAR, "weight": SCALAR, "filters": [MAP]}],
            "timeouts": {"request": SCALAR, "backendRequest": SCALAR},   # route_policies.py
            "filters": [{"type": SCALAR, "requestMirror": {      # RequestMirror only: route_policies.py
                "backendRef": {**_LOCAL_REF, "port": SCALAR}, "percent": SCALAR,
                "fraction": {"numerator": SCALAR, "denominator": SCALAR}}}],
        }],
    },
    "ReferenceGrant": {
        "from": [{"group": SCALAR, "kind": SCALAR, "namespace": SCALAR}],
        "to": [{"group": SCALAR, "kind": SCALAR, "name": SCALAR}],
    },
}

# The only filters Istio builds on a backendRef (pilot/pkg/config/kube/gateway/conversion.go
# buildHTTPDestination); any other type fails the whole route: ResolvedRefs False, InvalidFilter.
BACKEND_HEADER_FILTERS = ("RequestHeaderModifier", "ResponseHeaderModifier")
PATH_TYPES = ("Exact", "PathPrefix", "RegularExpression")
HEADER_TYPES = ("Exact", "RegularExpression")
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
PROTOCOLS = ("HTTP", "HTTPS")
MAX_WEIGHT = 1_000_000
PATH_CHARACTERS = re.compile(r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
# The CRDs' Hostname pattern (a DNS name, lower case, optionally starting with one "*.").
HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_values(ref: Ref, kind: str, spec: dict) -> None:
    """Values the CRDs refuse (enums, required fields, ranges), each error naming its field."""
    if kind == "Gateway":
        if not spec.get("gatewayClassName"):
            _fail(ref, "spec.gatewayClassName", "is required", "set gatewayClassName: istio")
        for i, listener in enumerate(spec.get("listeners") or []):
            where = f"spec.listeners[{i}]"
            for field in ("name", "port", "protocol"):
                if listener.get(field) in (None, ""):
                    _fail(ref, f"{where}.{field}", "is required", "give each listener a name, port and protocol")
            _hostname(ref, f"{where}.hostname", listener.get("hostname"))
            _port(ref, f"{where}.port", listener["port"])
        if not spec.get("listeners"):
            _fail(ref, "spec.listeners", "is empty", "add a listener (name, port, protocol)")
        names = [listener["name"] for listener in spec["listeners"]]
        if len(set(names)) != len(names):
            _fail(ref, "spec.listeners", "has two listeners of one name", "give each listener its own name")
        _check_listener_rules(ref, spec["listeners"])   # what the CRD refuses, before what only a cluster serves
        for i, listener in enumerate(spec["listeners"]):
            if listener["protocol"] not in PROTOCOLS:
                _local(ref, f"spec.listeners[{i}].protocol",
                       f"is {_shown(listener['protocol'])} (the local lab serves HTTP and HTTPS)",
                       "TCP, TLS and UDP listeners need k3d or minikube")
    elif kind == "HTTPRoute":
        for i, hostname in enumerate(spec.get("hostnames") or []):
            _hostname(ref, f"spec.hostnames[{i}]", hostname)
        for i, rule in enumerate(spec.get("rules") or []):
            check_rule_policies(ref, i, rule)   # timeouts and filters, as the CRD and Istio take them
            for j, match in enumerate(rule.get("matches") or []):
                where = f"spec.rules[{i}].matches[{j}]"
                path = match.get("path") or {}
                _enum(ref, f"{where}.path.type", path.get("type", "PathPrefix"), PATH_TYPES)
                problem = path.get("type", "PathPrefix") != "RegularExpression" and \
                    path_problem(str(path.get("value", "/")))
                if problem:
                    _fail(ref, f"{where}.path.value", problem, "write a plain absolute path, e.g. /app")
                for k, header in enumerate(match.get("headers") or []):
                    _enum(ref, f"{where}.headers[{k}].type", header.get("type", "Exact"), HEADER_TYPES)
                    if not header.get("name") or header.get("value") is None:
                        _fail(ref, f"{where}.headers[{k}]", "needs a name and a value",
                              "e.g. {name: x-track, value: canary}")
                    if not HEADER_NAME.match(str(header["name"])):
                        _fail(ref, f"{where}.headers[{k}].name", f"is {header['name']!r}, not a header name",
                              "letters, digits and !#$%&'*+-.^_`|~ only (no colon, no space)")
                if "method" in match:
                    _enum(ref, f"{where}.method", match["method"], METHODS)
            for j, backend in enumerate(rule.get("backendRefs") or []):
                where = f"spec.rules[{i}].backendRefs[{j}]"
                if backend.get("group", "") != "" or backend.get("kind", "Service") != "Service":
                    _local(ref, f"{where}.kind", f"is {backend.get('group') or 'core'}/{backend.get('kind')} "
                           "(the local lab routes to Services only)",
                           "name a Service (leave group and kind out), or use k3d or minikube")
                if not backend.get("name"):
                    _fail(ref, f"{where}.name", "is required", "name the Service")
                if backend.get("port") is None:
                    # The CRD's CEL rule: "Must have port for Service reference".
                    _fail(ref, f"{where}.port", "is required for a Service", "give the Service's port")
                _port(ref, f"{where}.port", backend["port"])
                weight = backend.get("weight", 1)
                if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= MAX_WEIGHT:
                    _fail(ref, f"{where}.weight", f"is {weight!r}", f"a whole number from 0 to {MAX_WEIGHT}")
                for k, backend_filter in enumerate(backend.get("filters") or []):
                    if backend_filter.get("type") in BACKEND_HEADER_FILTERS:
                        _local(ref, f"{where}.filters[{k}]",
                               f"is {backend_filter['type']} (no header is modified here)",
                               "leave it out, or use k3d or minikube")
        _check_parent_rules(ref, spec.get("parentRefs") or [])
        for i, parent in enumerate(spec.get("parentRefs") or []):
            if not parent.get("name"):
                _fail(ref, f"spec.parentRefs[{i}].name", "is required", "name the Gateway")
            if parent.get("group", GROUP) != GROUP or parent.get("kind", "Gateway") != "Gateway":
                _local(ref, f"spec.parentRefs[{i}].kind", "is not a Gateway of gateway.networking.k8s.io",
                       "routes for the mesh (a Service as parent) need k3d or minikube")


def _check_listener_rules(ref: Ref, listeners: list[dict]) -> None:
    """The Gateway CRD's CEL rules on spec.listeners (v1.6.0 gateways.yaml; tests/cel/gateway_test.go)."""
    seen: set[tuple] = set()
    for i, listener in enumerate(listeners):
        where, protocol, tls = f"spec.listeners[{i}]", listener["protocol"], listener.get("tls")
        if protocol in ("HTTP", "TCP", "UDP") and tls is not None:
            _fail(ref, f"{where}.tls", f"must not be set for protocol {protocol}",
                  "leave tls out, or use HTTPS")
        if protocol in ("TCP", "UDP") and listener.get("hostname"):
            _fail(ref, f"{where}.hostname", f"must not be set for protocol {protocol}",
                  "leave hostname out")
        if protocol == "TLS" and tls is None:   # (a tls without mode gets the default, Terminate)
            _fail(ref, f"{where}.tls.mode", "must be set for protocol TLS", "set mode: Passthrough")
        if protocol == "HTTPS" and tls is not None and tls.get("mode", "Terminate") not in ("", "Terminate"):
            _fail(ref, f"{where}.tls.mode", f"is {tls.get('mode')!r}; it must be Terminate for HTTPS",
                  "use mode: Terminate (Passthrough goes with protocol TLS)")
        if tls is not None and tls.get("mode", "Terminate") == "Terminate" and not tls.get("certificateRefs"):
            _fail(ref, f"{where}.tls", "has mode Terminate without certificateRefs",
                  "add certificateRefs: [{kind: Secret, name: canary-lab-gateway-tls}]")
        key = (listener["port"], protocol, listener.get("hostname") or None)
        if key in seen:   # "Combination of port, protocol and hostname must be unique for each listener"
            _fail(ref, where, "repeats another listener's port, protocol and hostname",
                  "give it another port or hostname")
        seen.add(key)


def _check_parent_rules(ref: Ref, parents: list[dict]) -> None:
    """The HTTPRoute CRD's CEL rules on spec.parentRefs: two references to one parent each name a
    sectionName, and not the same one."""
    sections: dict[tuple, list[str]] = {}
    for parent in parents:
        key = (parent.get("group", GROUP), parent.get("kind", "Gateway"), parent.get("name"),
               parent.get("namespace") or "")
        sections.setdefault(key, []).append(parent.get("sectionName") or "")
    for (_, _, name, _), names in sections.items():
        if "" in names and any(names):
            _fail(ref, "spec.parentRefs", f"names Gateway {name} more than once, not each with a sectionName",
                  "name each listener once with sectionName, or the Gateway once without")
        if len(set(names)) != len(names):
            _fail(ref, "spec.parentRefs", f"names Gateway {name}'s section {names[0] or '(none)'} twice",
                  "list each parent once")


def path_problem(value: str) -> str:
    """What the HTTPRoute CRD's CEL rules say about an Exact or PathPrefix value ("" when it is fine)."""
    if not value.startswith("/"):
        return "must be an absolute path and start with '/'"
    for part in ("//", "/./", "/../", "%2f", "%2F", "#"):
        if part in value:
            return f"must not contain '{part}'"
    for end in ("/..", "/."):
        if value.endswith(end):
            return f"must not end with '{end}'"
    if not PATH_CHARACTERS.match(value):
        return "must only contain valid path characters (letters, digits, -/._~!$&'()*+,;=:@ and %XX)"
    return ""


def _hostname(ref: Ref, field: str, value) -> None:
    if value is not None and not HOSTNAME.match(str(value)):
        _fail(ref, field, f"is {value!r}, not a host name", "lower-case DNS labels, optionally after '*.' (no port)")


def _port(ref: Ref, field: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        _fail(ref, field, f"is {value!r}", "a port number from 1 to 65535")


def _enum(ref: Ref, field: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        _fail(ref, field, f"is {value!r}", f"one of {', '.join(allowed)}")


def _shown(value: object) -> str:
    """A value as the message shows it: plain when it is one printable word, else quoted (no line breaks)."""
    return value if isinstance(value, str) and value.isprintable() and " " not in value else repr(value)


def _fail(ref: Ref, field: str, problem: str, fix: str) -> NoReturn:
    """What the CRD refuses, as a cluster's API server does."""
    raise ManifestError(f"{ref}: {field} {problem}; a cluster refuses it too", fix)


def _local(ref: Ref, field: str, problem: str, fix: str) -> NoReturn:
    """What a cluster takes and the local lab does not run."""
    raise ManifestError(f"{ref}: {field} {problem}: not supported by the local lab (a cluster supports it)", fix)
