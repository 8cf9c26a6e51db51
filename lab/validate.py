"""Checks that hold on every backend: what the Kubernetes API server and Istio would refuse.

The local lab must not teach what a cluster would refuse, so the rules are the
API server's (apiVersion per kind, DNS-1123 names, whole-number replicas and
ports) and Istio's (one match type per string match, unique subset names).
Istio itself would accept some more and then serve errors, or a split nobody
meant (weights that do not add up to 100 are read as shares of their sum); the
lab says so up front, because a learner's typo should cost seconds, not an evening.
"""

import re

from lab.errors import ManifestError
from lab.labels import key_problem, value_problem
from lab.re2 import check_re2
from lab.manifests import ref_of

ISTIO_NETWORKING = tuple(f"networking.istio.io/{v}" for v in ("v1", "v1beta1", "v1alpha3"))
# What the API server serves for each kind the lab knows (other kinds are the backend's to refuse).
API_VERSIONS = {
    "Namespace": ("v1",), "Service": ("v1",), "Deployment": ("apps/v1",),
    "Gateway": ISTIO_NETWORKING, "VirtualService": ISTIO_NETWORKING, "DestinationRule": ISTIO_NETWORKING,
}
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")   # an HTTP token (RFC 9110)
STRING_MATCH_TYPES = ("exact", "prefix", "regex")


def validate_identity(obj: dict) -> None:
    """apiVersion, kind and names: before anything reads the object's spec."""
    _check_api_version(obj)
    _check_names(obj)


def validate(obj: dict) -> None:
    validate_identity(obj)
    if is_gateway_api(obj):   # its fields and values: lab/backends/local/gateway_api_schema.py
        return
    check = {"VirtualService": _check_virtual_service, "DestinationRule": _check_destination_rule,
             "Gateway": _check_gateway, "Service": _check_service, "Deployment": _check_deployment}.get(obj["kind"])
    if check:
        check(obj)


def is_gateway_api(obj: dict) -> bool:
    return str(obj.get("apiVersion", "")).startswith(GATEWAY_API_GROUP + "/")


def whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_api_version(obj: dict) -> None:
    kind, api_version = obj["kind"], obj.get("apiVersion")
    name = (obj.get("metadata") or {}).get("name")
    if is_gateway_api(obj):   # a kind of its own (Ref.group), whose versions the Gateway API schema checks
        return
    served = API_VERSIONS.get(kind)
    if served and api_version not in served:
        raise ManifestError(f"{kind} {name}: apiVersion {api_version!r} does not serve kind {kind}",
                            f"use apiVersion {' or '.join(served)}")


def _check_names(obj: dict) -> None:
    kind, meta = obj["kind"], obj.get("metadata")
    if not isinstance(meta, dict):
        raise ManifestError(f"{kind}: metadata must be a mapping", "give it a name: metadata: {name: my-app}")
    rule, what = (DNS1123_LABEL, "a DNS-1123 label") if kind == "Namespace" else \
        (DNS1035_LABEL, "a DNS-1035 label") if kind == "Service" else (DNS1123_SUBDOMAIN, "a DNS-1123 subdomain")
    _check_name(f"{kind} metadata.name", meta.get("name"), rule, 63 if kind in ("Namespace", "Service") else 253,
                what)
    if "namespace" in meta and kind != "Namespace":
        _check_name(f"{kind} {meta.get('name')}: metadata.namespace", meta["namespace"], DNS1123_LABEL, 63,
                    "a DNS-1123 label")
    _check_labels(f"{kind} {meta.get('name')}: metadata.labels", meta.get("labels"))
    _check_labels(f"{kind} {meta.get('name')}: metadata.annotations", meta.get("annotations"), values_are_labels=False)


def _check_name(where: str, value, rule: re.Pattern, limit: int, what: str) -> None:
    if not isinstance(value, str):
        raise ManifestError(f"{where} is {value!r}, not a string",
                            f"quote it (name: \"{value}\") or use a name of lowercase letters, digits and '-'")
    if len(value) > limit or not rule.match(value):
        raise ManifestError(f"{where} {value!r} is not {what} (as Kubernetes requires)",
                            f"use lowercase letters, digits and '-', starting and ending with a letter or digit, "
                            f"at most {limit} characters")


def _check_deployment(deployment: dict) -> None:
    ref, spec = ref_of(deployment), deployment.get("spec") or {}
    replicas = spec.get("replicas", 1)
    if not whole_number(replicas) or replicas < 0:
        raise ManifestError(f"{ref}: spec.replicas is {replicas!r}",
                            "replicas is a whole number, 0 or more, written without quotes (e.g. replicas: 2)")
    _check_labels(f"{ref}: spec.selector.matchLabels", (spec.get("selector") or {}).get("matchLabels"))
    _check_labels(f"{ref}: spec.template.metadata.labels", ((spec.get("template") or {}).get("metadata") or {}).get("labels"))
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
        if target is not None and not isinstance(target, str):
            _check_port(ref, f"spec.ports[{i}].targetPort", target)


def _check_port(ref, where: str, value) -> None:
    if not whole_number(value) or not 1 <= value <= 65535:
        raise ManifestError(f"{ref}: {where} is {value!r}",
                            "a port is a whole number from 1 to 65535, written without quotes")


def _check_gateway(gateway: dict) -> None:
    """Istio's ValidateGateway and validateServer (pkg/config/validation/validation.go)."""
    ref, spec = ref_of(gateway), gateway.get("spec") or {}
    _check_labels(f"{ref}: spec.selector", spec.get("selector"))
    servers = spec.get("servers") or []
    if not servers:
        raise ManifestError(f"{ref}: spec.servers is empty; Istio refuses a Gateway without servers",
                            "give it a server: port (number, name, protocol) and hosts")
    names: dict[str, int] = {}
    for i, server in enumerate(servers):
        where, port = f"spec.servers[{i}]", server.get("port")
        if not isinstance(port, dict):
            raise ManifestError(f"{ref}: {where}.port is missing; Istio requires it",
                                "e.g. port: {number: 80, name: http, protocol: HTTP}")
        _check_port(ref, f"{where}.port.number", port.get("number"))
        name = port.get("name")
        if not name:
            raise ManifestError(f"{ref}: {where}.port.name is not set; Istio refuses it",
                                "name the port, e.g. name: http")
        if name in names:   # "port names in servers must be unique"
            raise ManifestError(f"{ref}: {where}.port.name {name} is also servers[{names[name]}]'s; Istio refuses "
                                "duplicate port names in servers", "give each server's port its own name (http, https)")
        names[name] = i
        protocol = str(port.get("protocol") or "").upper()
        if not protocol:
            raise ManifestError(f"{ref}: {where}.port.protocol is not set; Istio refuses it",
                                "set protocol: HTTP (or HTTPS)")
        tls = server.get("tls")
        if protocol in ("HTTPS", "TLS") and not tls:
            raise ManifestError(f"{ref}: {where} is {protocol} without tls settings; Istio refuses it",
                                "add tls: {mode: SIMPLE, credentialName: canary-lab-gateway-tls}")
        if protocol not in ("HTTPS", "TLS") and tls and set(tls) != {"httpsRedirect"}:
            raise ManifestError(f"{ref}: {where} is {protocol} with tls settings; Istio refuses TLS settings on a "
                                "plain-text port", "use protocol HTTPS for a server with tls")
        if not server.get("hosts"):
            raise ManifestError(f"{ref}: {where}.hosts is empty", "list the host names this server accepts")
        _check_host_names(ref, f"{where}.hosts", server["hosts"])
        for j, host in enumerate(server["hosts"]):
            _check_server_host(ref, f"{where}.hosts[{j}]", host)


# A server host is `[namespace/]dnsName`: namespace `*`, `.` or a DNS-1123 label; the name `*`, or
# an FQDN whose first label alone may be `*` (agent.ValidateNamespaceSlashWildcardHostname).
HOST_LABEL = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?\Z")


def _check_server_host(ref, where: str, entry: str) -> None:
    namespace, slash, host = entry.partition("/") if "/" in entry else ("", "", entry)
    if slash and namespace not in ("*", ".") and not (len(namespace) <= 63 and DNS1123_LABEL.match(namespace)):
        raise ManifestError(f"{ref}: {where} {entry!r} has namespace {namespace!r}; Istio refuses it",
                            "write namespace/host with namespace *, . or a namespace's name (or no namespace/)")
    labels = host.split(".")
    first_ok = labels[0] == "*" or (HOST_LABEL.match(labels[0]) and len(labels[0]) <= 63)
    if host != "*" and (len(labels) < 2 or not first_ok or len(host) > 253
                        or not all(HOST_LABEL.match(label) and len(label) <= 63 for label in labels[1:])):
        raise ManifestError(f"{ref}: {where} {entry!r} is not a full host name; Istio refuses it (short names and "
                            "partial wildcards such as *x.local are not allowed)",
                            "use a name with a dot (canary.lab.local), *.lab.local, or *")


def _check_host_names(ref, where: str, hosts) -> None:
    if not isinstance(hosts, list):
        raise ManifestError(f"{ref}: {where} must be a list", "write it as a YAML list: [canary.lab.local]")
    for j, host in enumerate(hosts):
        if not isinstance(host, str):
            raise ManifestError(f"{ref}: {where}[{j}] is {host!r}, not a host name", "quote it, e.g. \"canary.lab.local\"")


def _check_labels(where: str, labels, values_are_labels: bool = True) -> None:
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
            raise ManifestError(f"{where}.{key} is {value!r}, not a string; Kubernetes refuses it",
                                f"quote it: {key}: \"{value}\"")
        problem = value_problem(value) if values_are_labels else None
        if problem:
            raise ManifestError(f"{where}.{key} {value!r} {problem}; Kubernetes refuses it",
                                "use letters, digits, '-', '_' and '.', e.g. v2 (or an empty string)")


def _check_destination_rule(rule: dict) -> None:
    ref, spec = ref_of(rule), rule.get("spec") or {}
    if not spec.get("host"):
        raise ManifestError(f"{ref}: spec.host is missing", "name the Service whose subsets this rule defines")
    seen = set()
    for i, subset in enumerate(spec.get("subsets") or []):
        name = subset.get("name")
        if not name:
            raise ManifestError(f"{ref}: spec.subsets[{i}] has no name", "give each subset a name")
        if not isinstance(name, str) or not DNS1123_LABEL.match(name):   # Istio: "subset name is invalid"
            raise ManifestError(f"{ref}: spec.subsets[{i}].name {name!r} is not a DNS-1123 label; Istio refuses it",
                                "use lowercase letters, digits and '-', e.g. v1 (quoted if it is a number)")
        if name in seen:   # Istio's validation refuses it too
            raise ManifestError(f"{ref}: subset name {name} appears twice", "give each subset its own name")
        seen.add(name)
        _check_labels(f"{ref}: spec.subsets[{i}].labels", subset.get("labels"))


def _check_virtual_service(vs: dict) -> None:
    ref = ref_of(vs)
    spec = vs.get("spec") or {}
    if not spec.get("hosts"):
        raise ManifestError(f"{ref}: spec.hosts is empty", "list the host names this VirtualService routes")
    _check_host_names(ref, "spec.hosts", spec["hosts"])
    if not spec.get("http"):
        # Istio's validation: "http, tcp or tls must be provided in virtual service"
        raise ManifestError(f"{ref}: spec.http is empty; Istio refuses a VirtualService with no routes",
                            "give it at least one http route (to remove it, `invoke delete vs NAME -n NS`)")
    for i, http in enumerate(spec.get("http") or []):
        for j, match in enumerate(http.get("match") or []):
            _check_match(ref, f"spec.http[{i}].match[{j}]", match or {})
        _check_routes(ref, f"spec.http[{i}].route", http.get("route") or [])


def _check_match(ref, where: str, match: dict) -> None:
    if "uri" in match:
        _check_string_match(ref, f"{where}.uri", match["uri"], presence_allowed=False)
    for name, condition in (match.get("headers") or {}).items():
        if not HEADER_NAME.match(str(name).removeprefix(":")):   # pseudo-headers (:authority) too, as Istio
            raise ManifestError(f"{ref}: {where}.headers names {name!r}, which is not an HTTP header name",
                                "use letters, digits and '-' (no spaces, colons or line breaks)")
        # `{}` matches when the header is present, whatever its value (Istio's rule).
        _check_string_match(ref, f"{where}.headers.{name}", condition, presence_allowed=True)


def _check_string_match(ref, where: str, condition, presence_allowed: bool) -> None:
    if condition is None and presence_allowed:
        return
    if not isinstance(condition, dict):
        raise ManifestError(f"{ref}: {where} must be a mapping", "e.g. {exact: canary} or {prefix: /api}")
    kinds = [k for k in STRING_MATCH_TYPES if k in condition]
    if len(kinds) > 1:
        raise ManifestError(f"{ref}: {where} has {' and '.join(kinds)}; Istio takes one match type",
                            "keep one of exact, prefix or regex (use two match entries to OR them)")
    if not kinds and not presence_allowed:
        raise ManifestError(f"{ref}: {where} is empty", "give it exact, prefix or regex")
    for kind in kinds:
        value = condition[kind]
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or re.search(r"[\r\n\0]", str(value)):
            raise ManifestError(f"{ref}: {where}.{kind} is {value!r}",
                                "a match value is one line of text (quote it)")
        if kind == "prefix" and value == "" and presence_allowed:   # a header's, not a uri's (Istio's rule)
            raise ManifestError(f"{ref}: {where}.prefix is empty; Istio refuses it",
                                "give the prefix, or `{}` to match any value of the header")
        if kind == "regex":
            check_re2(ref, f"{where}.regex", str(value))


def _check_routes(ref, where: str, routes: list) -> None:
    if not routes:
        raise ManifestError(f"{ref}: {where} is empty", "give the route at least one destination")
    weights = []
    for j, route in enumerate(routes):
        destination = route.get("destination") or {}
        if not destination.get("host"):
            raise ManifestError(f"{ref}: {where}[{j}].destination.host is missing",
                                "name the Service to send traffic to")
        if not isinstance(destination["host"], str):   # Istio's Destination.host is a string
            raise ManifestError(f"{ref}: {where}[{j}].destination.host is {destination['host']!r}, not a host name",
                                "name the Service to send traffic to (quote it if it looks like a number)")
        if "port" in destination:
            _check_port(ref, f"{where}[{j}].destination.port.number", (destination["port"] or {}).get("number"))
        weight = route.get("weight")
        if weight is None:
            weights.append(None)
            continue
        if not whole_number(weight) or weight < 0 or weight > 100:
            raise ManifestError(f"{ref}: {where}[{j}].weight is {weight!r}",
                                "weights are whole numbers from 0 to 100")
        weights.append(weight)
    if len(routes) > 1:
        if None in weights:
            raise ManifestError(f"{ref}: {where} has {len(routes)} destinations but not every one has a weight",
                                "give each destination a weight (Istio reads a missing one as 0); "
                                "together they make 100")
        if sum(weights) == 0:
            # validateHTTPRouteDestinations: "total destination weight = 0" is refused
            raise ManifestError(f"{ref}: {where} weights add up to 0: Istio refuses a route that sends nowhere",
                                "give the destination that should get the traffic its weight (100)")
        if sum(weights) != 100:
            shown = " + ".join(str(w) for w in weights)
            # Istio splits by weight ÷ sum and refuses only a negative weight or a zero total
            # (istio/api virtual_service.proto; istio pkg/config/validation validateHTTPRouteDestinations).
            raise ManifestError(f"{ref}: {where} weights add up to {sum(weights)} ({shown}); Istio would "
                                f"give each destination its weight ÷ {sum(weights)}, but this lab asks for 100",
                                "make them add up to 100 (the lab's convention, not Istio's rule: each "
                                "weight then reads as its percent of the traffic)")


def route_weights(routes: list[dict]) -> list[int]:
    """Effective weights: a lone destination gets 100, as Istio does."""
    if len(routes) == 1:
        return [100]
    return [int(r.get("weight", 0)) for r in routes]
