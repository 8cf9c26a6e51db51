"""Istio's rules for host names, as its webhook checks them (Istio release-1.31).

Each function says why a name is refused, or None when Istio takes it. From
pkg/config/validation/agent/validation.go (CheckDNS1123Preconditions, ValidateDNS1123Labels,
ValidateFQDN, ValidateWildcardDomain, ValidatePartialWildCard, ValidateNamespaceSlashWildcardHostname),
pkg/config/labels/instance.go (IsDNS1123Label, IsWildcardDNS1123Label: upper case is allowed) and
pkg/config/host/name.go (Name.Matches: when two hosts overlap; Name.SubsetOf: when one covers
the other).
"""

import ipaddress
import re

DNS1123_LABEL_MAX = 63   # labels.DNS1123LabelMaxLength
DOMAIN_MAX = 255         # CheckDNS1123Preconditions: "too long (max 255)"
# dns1123LabelFmt, and wildcardPrefix: `*`, or a label after `*` or `*-` (the first label only)
_LABEL = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
DNS1123_LABEL = re.compile(_LABEL + r"\Z")
WILDCARD_LABEL = re.compile(rf"(\*|(\*|\*-)?{_LABEL})\Z")


def is_dns1123_label(value: str) -> bool:
    """labels.IsDNS1123Label: letters of either case, digits and '-', at most 63."""
    return len(value) <= DNS1123_LABEL_MAX and bool(DNS1123_LABEL.match(value))


def is_ip_address(value: str) -> bool:
    """pkg/util/net IsValidIPAddress (netip.ParseAddr): an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _length_problem(domain: str) -> str | None:
    if not domain:
        return "is empty"
    if len(domain) > DOMAIN_MAX:
        return f"is {len(domain)} characters long (at most {DOMAIN_MAX})"
    return None


def _labels_problem(domain: str) -> str | None:
    """ValidateDNS1123Labels: each label DNS-1123 (a last empty label allowed: `istio.io.`), and the
    top-level label not all digits."""
    parts = domain.split(".")
    if _is_go_int(parts[-1]):
        return f"has an all-numeric top-level label ({parts[-1]})"
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and label == "":
            return None
        if not is_dns1123_label(label):
            return f"has a label {label!r} that is not a DNS-1123 label (letters, digits and '-', at most 63)"
    return None


def _is_go_int(text: str) -> bool:
    """strconv.Atoi succeeds on ASCII digits within int64 (a signed label fails as a DNS label anyway)."""
    return text.isascii() and text.isdigit() and int(text) < 2**63


def fqdn_problem(domain: str) -> str | None:
    """ValidateFQDN."""
    return _length_problem(domain) or _labels_problem(domain)


def wildcard_domain_problem(domain: str) -> str | None:
    """ValidateWildcardDomain: an FQDN whose first label alone may carry a wildcard (`*`,
    `*.lab.local`, `*foo.lab.local`); `foo.*.lab.local` and `foo*.lab.local` are refused."""
    problem = _length_problem(domain)
    if problem:
        return problem
    first, dot, rest = domain.partition(".")
    if not (len(first) <= DNS1123_LABEL_MAX and WILDCARD_LABEL.match(first)):
        return f"has a first label {first!r} that is neither a DNS-1123 label nor a wildcard (*, *.x)"
    return _labels_problem(rest) if dot else None


def server_host_problem(entry: str) -> str | None:
    """A Gateway server's host, `[namespace/]dnsName` (ValidateNamespaceSlashWildcardHostname with
    isGateway): namespace `*`, `.` or a DNS-1123 label; the name `*` or a full name with a dot
    (no short names), a wildcard only as the whole first label, or an IP address."""
    namespace, slash, host = entry.partition("/")
    if not slash:
        namespace, host = "", entry
    elif not namespace or not host:
        return "has an empty namespace or host around '/'"
    elif namespace not in ("*", ".") and not is_dns1123_label(namespace):
        return f"has namespace {namespace!r} (it must be *, . or a namespace's name)"
    if host != "*" and "." not in host:
        return "is not a full host name: short names are not allowed (a server host needs a dot: canary.lab.local)"
    if wildcard_domain_problem(host) and not is_ip_address(host):
        return wildcard_domain_problem(host)
    if "*" in host and host != "*" and not host.startswith("*."):   # ValidatePartialWildCard
        return "is a partial wildcard (partial wildcards such as *x.local are not allowed; *.x or * are)"
    return None


def hosts_overlap(a: str, b: str) -> bool:
    """host.Name.Matches: equal names, or a wildcard (`*.bar`) that covers the other (`*.foo.bar`,
    `a.bar`). Case-sensitive, as Istio compares them."""
    if a.startswith("*") and b.startswith("*"):
        shorter, longer = sorted((a, b), key=len)
        return longer[1:].endswith(shorter[1:])
    if a.startswith("*"):
        return b.endswith(a[1:])
    if b.startswith("*"):
        return a.endswith(b[1:])
    return a == b


def subset_of(host: str, of: str) -> bool:
    """host.Name.SubsetOf: `of` covers `host` (`a.b.c` ⊆ `*.b.c` ⊆ `*.c` ⊆ `*`). Case-sensitive."""
    if host.startswith("*"):
        # (Istio also tests len(host) >= len(of) first: the suffix test implies it)
        return of.startswith("*") and host[1:].endswith(of[1:])
    if of.startswith("*"):
        return host.endswith(of[1:])
    return host == of
