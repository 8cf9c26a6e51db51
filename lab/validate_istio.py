"""What Istio's validating webhook refuses in the lab's Istio kinds, read from its source (release-1.31,
pkg/config/validation/validation.go and virtualservice.go; host rules in lab/hosts.py).

Each refusal says "Istio refuses it". Where Istio accepts and the lab still refuses, the message says
that the rule is the lab's own (weights adding up to 100), or what a cluster would do instead.
"""

import re
from typing import NoReturn

from lab.errors import ManifestError
from lab.hosts import (
    fqdn_problem,
    hosts_overlap,
    is_dns1123_label,
    is_ip_address,
    server_host_problem,
    wildcard_domain_problem,
)
from lab.labels import istio_key_problem, istio_value_problem
from lab.manifests import Ref, ref_of
from lab.re2 import check_re2

STRING_MATCH_TYPES = ("exact", "prefix", "regex")
# validHeaderNameRegex: "^[" + "!#$%&'*+-.^_`|~A-Za-z0-9" + "]+$". In that class `+-.` is a range,
# so ',' is taken too; the pseudo-headers below are taken as they are.
HEADER_NAME = re.compile(r"[!#$%&'*+,\-.^_`|~A-Za-z0-9]+\Z")
PSEUDO_HEADERS = (":method", ":scheme", ":authority", ":path", ":status")
JWT_CLAIM = re.compile(r"@request\.auth\.claims(\..+|\[.+\])\Z", re.IGNORECASE)   # jwt.ToRoutingClaim
# protocol.Parse (pkg/config/protocol/instance.go), case-insensitive; anything else is unsupported.
PROTOCOLS = ("tcp", "udp", "grpc", "grpc-web", "http", "http_proxy", "http2", "https", "tls", "mongo", "redis",
             "mysql")
TLS_PROTOCOLS, HTTP_PROTOCOLS = ("https", "tls"), ("http", "http2", "http_proxy", "grpc", "grpc-web")
PASSTHROUGH_MODES = (None, "PASSTHROUGH", "AUTO_PASSTHROUGH")   # PASSTHROUGH is the enum's zero value


def refuse(ref: Ref, what: str, fix: str) -> NoReturn:
    raise ManifestError(f"{ref}: {what}; Istio refuses it", fix)


def whole_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def port_problem(value: object) -> bool:
    """agent.ValidatePort: 1..65535 (and a whole number, as the CRD's integer type wants)."""
    return not whole_number(value) or not 1 <= value <= 65535   # type: ignore[operator]


# -- VirtualService -------------------------------------------------------------------------------


def check_virtual_service(vs: dict) -> None:
    """ValidateVirtualService."""
    ref, spec = ref_of(vs), vs.get("spec") or {}
    gateways = spec.get("gateways") or []
    _check_gateway_names(ref, gateways)
    hosts = spec.get("hosts") or []   # none: a delegate VirtualService (the local lab refuses it, schema.py)
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        bad = next((f"[{i}] is {h!r}" for i, h in enumerate(hosts) if not isinstance(h, str)), " is not a list") \
            if isinstance(hosts, list) else " is not a list"
        raise ManifestError(f"{ref}: spec.hosts{bad}, not a host name", "write them as a list of quoted names: "
                            "[\"canary.lab.local\"]")
    to_mesh = not gateways or "mesh" in gateways   # isGateway: bound to a gateway unless "mesh" is named
    for i, host in enumerate(hosts):
        problem = wildcard_domain_problem(host)
        if problem and not is_ip_address(host):
            refuse(ref, f"spec.hosts[{i}] {host!r} {_host_words(host, problem)}",
                   "a host is a DNS name without a port: canary.lab.local, *.lab.local")
        if not problem and to_mesh and host == "*":
            refuse(ref, "spec.hosts has '*', which a VirtualService bound to the mesh may not have",
                   "name the hosts, or bind it to a Gateway only (spec.gateways without mesh)")
    for i, first in enumerate(hosts):   # "duplicate hosts in virtual service": wildcards overlap too
        for second in hosts[i + 1:]:
            if hosts_overlap(first, second):
                refuse(ref, f"spec.hosts has {first} and {second}, which overlap",
                       "list each host once (a wildcard already covers the names under it)")
    if not spec.get("http"):
        refuse(ref, "spec.http is empty (a VirtualService with no http, tcp or tls routes)",
               "give it at least one http route (to remove it, `invoke delete vs NAME -n NS`)")
    for i, http in enumerate(spec["http"]):
        for j, match in enumerate(http.get("match") or []):
            _check_match(ref, f"spec.http[{i}].match[{j}]", match or {}, to_mesh)
        if http.get("route") or not any(http.get(k) for k in ("redirect", "directResponse", "delegate")):
            _check_destinations(ref, f"spec.http[{i}].route", http.get("route") or [])


def _host_words(host: str, problem: str) -> str:
    if ":" in host:
        return "has a port (a host is a name without a port)"
    return problem


def _check_gateway_names(ref: Ref, gateways: object) -> None:
    """validateGatewayNames: `namespace/name` (both DNS-1123 labels) or a bare FQDN. As in Istio, the
    loop ends at the first name without '/' (so later names go unchecked there too)."""
    if not isinstance(gateways, list):
        raise ManifestError(f"{ref}: spec.gateways must be a list", "e.g. gateways: [canary-lab/lab-gateway]")
    for i, name in enumerate(gateways):
        where, name = f"spec.gateways[{i}] {name!r}", str(name)
        namespace, slash, gateway = name.partition("/")
        if not slash:
            if fqdn_problem(name):
                refuse(ref, f"{where} is not a Gateway name ({fqdn_problem(name)})",
                       "name a Gateway as NAMESPACE/NAME (or mesh)")
            return
        if not is_dns1123_label(namespace) or not is_dns1123_label(gateway):
            refuse(ref, f"{where}: namespace and name must each be a DNS-1123 label (no wildcards)",
                   "name one Gateway as NAMESPACE/NAME, e.g. canary-lab/lab-gateway")


def _check_match(ref: Ref, where: str, match: dict, to_mesh: bool) -> None:
    if "uri" in match:
        _check_string_match(ref, f"{where}.uri", match["uri"], presence_allowed=False)
    headers = match.get("headers") or {}
    if not isinstance(headers, dict):
        raise ManifestError(f"{ref}: {where}.headers must be a mapping", "e.g. headers: {x-track: {exact: canary}}")
    for name, condition in headers.items():
        name = str(name)   # ValidateHTTPHeaderNameOrJwtClaimRoute
        if JWT_CLAIM.match(name) and to_mesh:
            refuse(ref, f"{where}.headers.{name} routes by a JWT claim, which only a gateway does",
                   "bind the VirtualService to a Gateway (spec.gateways without mesh)")
        if not JWT_CLAIM.match(name) and name not in PSEUDO_HEADERS and not HEADER_NAME.match(name):
            refuse(ref, f"{where}.headers names {name!r}, which is not an HTTP header name",
                   "use letters, digits and '-' (no spaces, colons or line breaks)")
        if condition is None:   # apiextensions prunenulls.go: a null map value is deleted before Istio sees it
            raise ManifestError(f"{ref}: {where}.headers.{name} is empty (null): a cluster's API server drops it, "
                                "and the match then takes every request; the lab refuses it",
                                f"write {name}: {{}} to match any value when the header is present, or give "
                                "exact, prefix or regex")
        # `{}` matches when the header is present, whatever its value (Istio's rule).
        _check_string_match(ref, f"{where}.headers.{name}", condition, presence_allowed=True)


def _check_string_match(ref: Ref, where: str, condition: object, presence_allowed: bool) -> None:
    """validateStringMatch / validateStringMatchRegexp."""
    if not isinstance(condition, dict):
        raise ManifestError(f"{ref}: {where} must be a mapping", "e.g. {exact: canary} or {prefix: /api}")
    kinds = [k for k in STRING_MATCH_TYPES if k in condition]
    if len(kinds) > 1:   # a oneof: the CRD's schema takes one
        raise ManifestError(f"{ref}: {where} has {' and '.join(kinds)}; Istio takes one match type",
                            "keep one of exact, prefix or regex (use two match entries to OR them)")
    if not kinds and not presence_allowed:
        raise ManifestError(f"{ref}: {where} is empty", "give it exact, prefix or regex")
    for kind in kinds:
        value = condition[kind]
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or re.search(r"[\r\n\0]", str(value)):
            raise ManifestError(f"{ref}: {where}.{kind} is {value!r}", "a match value is one line of text (quote it)")
        if kind == "prefix" and value == "" and presence_allowed:   # a header's, not a uri's
            refuse(ref, f"{where}.prefix is empty", "give the prefix, or `{}` to match any value of the header")
        if kind == "regex":
            check_re2(ref, f"{where}.regex", str(value))


def _check_destinations(ref: Ref, where: str, routes: list) -> None:
    """validateHTTPRouteDestinations and validateDestination; then the lab's own add-to-100 convention."""
    if not routes:
        refuse(ref, f"{where} is empty (an http route needs a route, redirect or direct_response)",
               "give the route at least one destination")
    weights: list[int | None] = []
    for j, route in enumerate(routes):
        destination, at = route.get("destination") or {}, f"{where}[{j}].destination"
        host = destination.get("host")
        if not host:
            refuse(ref, f"{at}.host is missing", "name the Service to send traffic to")
        if not isinstance(host, str):
            raise ManifestError(f"{ref}: {at}.host is {host!r}, not a host name", "quote it: host: \"httpbin\"")
        if host == "*":
            refuse(ref, f"{at}.host is '*' (a destination is one service)", "name the Service, e.g. httpbin")
        if wildcard_domain_problem(host):
            refuse(ref, f"{at}.host {host!r} {_host_words(host, wildcard_domain_problem(host) or '')}",
                   "name the Service: httpbin, or httpbin.canary-lab.svc.cluster.local")
        subset = destination.get("subset")
        if subset is not None and subset != "" and not (isinstance(subset, str) and is_dns1123_label(subset)):
            refuse(ref, f"{at}.subset {subset!r} is not a DNS-1123 label (validateSubsetName)",
                   "use letters, digits and '-', e.g. v1")
        if "port" in destination and port_problem((destination["port"] or {}).get("number")):
            refuse(ref, f"{at}.port.number is {(destination['port'] or {}).get('number')!r}",
                   "a port is a whole number from 1 to 65535, written without quotes")
        weight = route.get("weight")
        if weight is not None and (not whole_number(weight) or weight < 0):
            refuse(ref, f"{where}[{j}].weight is {weight!r} (a weight is a whole number, 0 or more)",
                   "give a whole number from 0 to 100, e.g. weight: 90")
        weights.append(weight)
    _check_weights(ref, where, weights)


def _check_weights(ref: Ref, where: str, weights: list[int | None]) -> None:
    if len(weights) < 2:
        if weights[0] is not None and weights[0] > 100:
            raise ManifestError(f"{ref}: {where}[0].weight is {weights[0]}; Istio would send all traffic to the one "
                                "destination, but this lab takes weights as percents (0 to 100)",
                                "leave the weight out, or write 100 (the lab's convention, not Istio's rule)")
        return
    if None in weights:
        raise ManifestError(f"{ref}: {where} has {len(weights)} destinations but not every one has a weight; "
                            "Istio reads a missing one as 0, and this lab asks for each", "give each destination "
                            "a weight; together they make 100 (the lab's convention)")
    total = sum(w for w in weights if w is not None)
    if total == 0:   # "total destination weight = 0"
        refuse(ref, f"{where} weights add up to 0 (a route that sends nowhere)",
               "give the destination that should get the traffic its weight (100)")
    if total != 100:
        shown = " + ".join(str(w) for w in weights)
        # Istio splits by weight ÷ sum and refuses only a negative weight or a zero total
        # (istio/api virtual_service.proto; validateHTTPRouteDestinations; route.go weighted clusters).
        raise ManifestError(f"{ref}: {where} weights add up to {total} ({shown}); Istio would give each "
                            f"destination its weight ÷ {total}, but this lab asks for 100",
                            "make them add up to 100 (the lab's convention, not Istio's rule: each weight then "
                            "reads as its percent of the traffic)")


# -- DestinationRule and Gateway ------------------------------------------------------------------


def check_destination_rule(rule: dict) -> None:
    """ValidateDestinationRule and validateSubset."""
    ref, spec = ref_of(rule), rule.get("spec") or {}
    host = spec.get("host")
    if not host:
        refuse(ref, "spec.host is missing", "name the Service whose subsets this rule defines, e.g. host: httpbin")
    problem = wildcard_domain_problem(host) if isinstance(host, str) else "is not a host name"
    if problem:
        refuse(ref, f"spec.host {host!r} {problem}", "name the Service whose subsets this rule defines: host: httpbin")
    _check_traffic_policy(ref, "spec.trafficPolicy", spec.get("trafficPolicy"))
    seen: set[str] = set()
    for i, subset in enumerate(spec.get("subsets") or []):
        name = subset.get("name")
        if not name:
            refuse(ref, f"spec.subsets[{i}] has no name", "give each subset a name")
        if not isinstance(name, str) or not is_dns1123_label(name):   # validateSubsetName
            refuse(ref, f"spec.subsets[{i}].name {name!r} is not a DNS-1123 label",
                   "use letters, digits and '-', e.g. v1 (quoted if it is a number)")
        if name in seen:   # "duplicate subset names"
            refuse(ref, f"subset name {name} appears twice", "give each subset its own name")
        seen.add(name)
        _check_subset_labels(ref, f"spec.subsets[{i}].labels", subset.get("labels"))
        _check_traffic_policy(ref, f"spec.subsets[{i}].trafficPolicy", subset.get("trafficPolicy"))


def _check_traffic_policy(ref: Ref, where: str, policy: object) -> None:
    """validation.go validateTrafficPolicy: a policy given must set at least one field."""
    if isinstance(policy, dict) and all(value is None for value in policy.values()):
        refuse(ref, f"{where}: traffic policy must have at least one field",
               "remove the empty trafficPolicy, or give it one, e.g. loadBalancer: {simple: LEAST_REQUEST}")


def _check_subset_labels(ref: Ref, where: str, labels: object) -> None:
    """labels.Instance.Validate; the CRD's schema wants strings."""
    if labels is None:
        return
    if not isinstance(labels, dict):
        raise ManifestError(f"{ref}: {where} must be a mapping", "write labels as key: value lines")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise ManifestError(f"{ref}: {where}.{key} is {value!r}, not a string; Kubernetes refuses it (the "
                                "DestinationRule CRD)", f"quote it: {key}: \"{value}\"")
        problem = istio_key_problem(str(key)) if isinstance(key, str) else "is not a string"
        if problem:
            refuse(ref, f"{where}: key {key!r} {problem}", "use a key like version or example.com/version")
        problem = istio_value_problem(value)
        if problem:
            refuse(ref, f"{where}.{key} {value!r} {problem}", "use letters, digits, '-', '_' and '.', e.g. v2")


def check_gateway(gateway: dict) -> None:
    """ValidateGateway, validateServer and validateServerPort."""
    ref, spec = ref_of(gateway), gateway.get("spec") or {}
    if not is_dns1123_label(ref.name):   # "invalid gateway name": no dots
        refuse(ref, f"metadata.name {ref.name!r} is not a DNS-1123 label (a Gateway's name has no dots)",
               "use letters, digits and '-', e.g. lab-gateway")
    servers = spec.get("servers") or []
    if not servers:
        refuse(ref, "spec.servers is empty (a Gateway without servers)",
               "give it a server: port (number, name, protocol) and hosts")
    names: dict[str, int] = {}
    for i, server in enumerate(servers):
        where, port = f"spec.servers[{i}]", server.get("port")
        if not server.get("hosts"):
            refuse(ref, f"{where}.hosts is empty", "list the host names this server accepts")
        if not isinstance(server["hosts"], list):
            raise ManifestError(f"{ref}: {where}.hosts must be a list", "e.g. hosts: [canary.lab.local]")
        for j, host in enumerate(server["hosts"]):
            if not isinstance(host, str):
                raise ManifestError(f"{ref}: {where}.hosts[{j}] is {host!r}, not a host name",
                                    "quote it, e.g. \"canary.lab.local\"")
            if server_host_problem(host):
                refuse(ref, f"{where}.hosts[{j}] {host!r} {server_host_problem(host)}",
                       "use a name with a dot (canary.lab.local), *.lab.local, or *; optionally NAMESPACE/ first")
        if not isinstance(port, dict):
            refuse(ref, f"{where}.port is missing", "e.g. port: {number: 80, name: http, protocol: HTTP}")
        _check_server_port(ref, where, port, server, names, i)


def _check_server_port(ref: Ref, where: str, port: dict, server: dict, names: dict[str, int], index: int) -> None:
    protocol = str(port.get("protocol") or "").lower()
    if protocol not in PROTOCOLS:
        shown = f"is {port['protocol']!r}" if port.get("protocol") else "is not set"
        refuse(ref, f"{where}.port.protocol {shown}",
               "use HTTP or HTTPS (Istio takes HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, TCP, TLS, MONGO, REDIS, MYSQL)")
    if port_problem(port.get("number")):
        refuse(ref, f"{where}.port.number is {port.get('number')!r}",
               "a port is a whole number from 1 to 65535, written without quotes")
    if port.get("targetPort"):
        refuse(ref, f"{where}.port.targetPort is set (it has no effect on a Gateway)", "leave targetPort out")
    name = port.get("name")
    if not name:
        refuse(ref, f"{where}.port.name is not set", "name the port, e.g. name: http")
    if name in names:
        refuse(ref, f"{where}.port.name {name} is also servers[{names[name]}]'s (duplicate port names)",
               "give each server's port its own name (http, https)")
    names[name] = index
    tls = server.get("tls")
    if protocol in TLS_PROTOCOLS and tls is None:
        refuse(ref, f"{where} is {protocol.upper()} without tls settings",
               "add tls: {mode: SIMPLE, credentialName: canary-lab-gateway-tls}")
    if protocol not in TLS_PROTOCOLS and tls is not None:
        certificates = any(tls.get(k) for k in ("caCertificates", "privateKey", "serverCertificate")) \
            if isinstance(tls, dict) else True
        passthrough = isinstance(tls, dict) and tls.get("mode") in PASSTHROUGH_MODES
        if protocol not in HTTP_PROTOCOLS or not passthrough or certificates:
            refuse(ref, f"{where} is {protocol.upper()} with tls settings (on a plain-text port only "
                   "httpsRedirect is taken)", "use protocol HTTPS for a server with tls")
