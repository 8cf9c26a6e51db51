"""Kubernetes' syntax for label keys and values, as the API server checks it.

From k8s.io/apimachinery/pkg/util/validation (validation.go: IsQualifiedName, IsValidLabelValue,
IsDNS1123Subdomain), used by ValidateLabels for metadata.labels and label selectors, and by
annotations for their keys. Istio checks a DestinationRule subset's labels the same way.
"""

import re

QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")   # qualifiedNameFmt
QUALIFIED_NAME_MAX = 63
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")  # labelValueFmt: empty too
LABEL_VALUE_MAX = 63
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
DNS1123_SUBDOMAIN_MAX = 253


def key_problem(key: str) -> str | None:
    """Why `key` is not a qualified name (`[prefix/]name`), or None when it is one."""
    prefix, slash, name = key.rpartition("/")
    if key.count("/") > 1:
        return "has more than one '/'"
    if slash and not prefix:
        return "has an empty prefix before '/'"
    if slash and (len(prefix) > DNS1123_SUBDOMAIN_MAX or not DNS1123_SUBDOMAIN.match(prefix)):
        return f"has a prefix ({prefix}) that is not a DNS-1123 subdomain (lowercase, at most 253 characters)"
    if not name:
        return "has an empty name"
    if len(name) > QUALIFIED_NAME_MAX:
        return f"has a name part of {len(name)} characters (at most {QUALIFIED_NAME_MAX})"
    if not QUALIFIED_NAME.match(name):
        return "is not a qualified name (letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
    return None


def value_problem(value: str) -> str | None:
    """Why `value` is not a label value, or None when it is one (empty is one)."""
    if len(value) > LABEL_VALUE_MAX:
        return f"is {len(value)} characters long (at most {LABEL_VALUE_MAX})"
    if not LABEL_VALUE.match(value):
        return "is not a label value (letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
    return None


# Istio checks a DestinationRule subset's labels with its own rules (pkg/config/labels/instance.go,
# Instance.Validate): the key's DNS prefix may have upper case, and a value has no length limit.
_ISTIO_LABEL = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"   # dns1123LabelFmt
ISTIO_TAG_KEY = re.compile(rf"((?:{_ISTIO_LABEL}(?:\.{_ISTIO_LABEL})*)/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])\Z")


def istio_key_problem(key: str) -> str | None:
    """validateTagKey: `[dnsPrefix/]name`, the prefix at most 253, the name at most 63."""
    match = ISTIO_TAG_KEY.match(key)
    if not match:
        return "is not a label key Istio takes ([prefix/]name: letters, digits, '-', '_' or '.')"
    if match.group(1) and len(match.group(1)) - 1 > DNS1123_SUBDOMAIN_MAX:
        return f"has a prefix longer than {DNS1123_SUBDOMAIN_MAX} characters"
    if len(match.group(2)) > QUALIFIED_NAME_MAX:
        return f"has a name part of {len(match.group(2))} characters (at most {QUALIFIED_NAME_MAX})"
    return None


def istio_value_problem(value: str) -> str | None:
    """labelValueRegexp: a qualified name or empty, of any length."""
    if not LABEL_VALUE.match(value):
        return "is not a label value (letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
    return None
