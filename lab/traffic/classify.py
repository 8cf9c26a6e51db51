"""Which app answered: each destination has a fingerprint (page title, a header, or a body pattern),
or several, any of which names it (httpbin's pages have a title, its JSON answers none)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lab.errors import LabError

ERROR = "error"                # no answer, or HTTP 5xx
UNCLASSIFIED = "unclassified"  # an answer no fingerprint matched

_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Rule:
    """One fingerprint: exactly one of title, header and body is set; with `json`, only a JSON
    answer (Content-Type application/json) matches."""
    title: str | None = None
    header: tuple[str, str] | None = None
    body: str | None = None
    json: bool = False

    def matches(self, headers: Mapping[str, str], body: str) -> bool:
        if self.json and not (_header(headers, "content-type") or "").lower().startswith("application/json"):
            return False
        if self.title is not None:
            return page_title(body) == self.title
        if self.header is not None:
            name, value = self.header
            return _header(headers, name) == value
        return self.body is not None and re.search(self.body, body) is not None


@dataclass(frozen=True)
class Classifier:
    rules: dict[str, tuple[Rule, ...]]   # per destination, its fingerprints: any one names it

    def classify(self, status: int, headers: Mapping[str, str], body: str) -> str:
        if status == 0 or status >= 500:
            return ERROR
        return self.identify(headers, body)

    def identify(self, headers: Mapping[str, str], body: str) -> str:
        """Which destination sent this answer, whatever its status (a failing app still says who it is)."""
        for name, rules in self.rules.items():
            if any(rule.matches(headers, body) for rule in rules):
                return name
        return UNCLASSIFIED

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "Classifier":
        """{"httpbin": {"title": "httpbin.org"}, "v2": {"header": {"x-version": "v2"}}, "x": {"body": "re"}};
        a list of such fingerprints names a destination by any of them; `json: true` beside one
        limits it to JSON answers."""
        rules = {name: tuple(_rule(name, one) for one in (fingerprints if isinstance(fingerprints, list)
                                                            else [fingerprints]))
                 for name, fingerprints in (spec or {}).items()}
        if not rules or not all(rules.values()):
            raise LabError("no destinations to tell answers apart", "give each destination a fingerprint")
        return cls(rules)


def _rule(name: str, fingerprint: object) -> Rule:
    """One fingerprint of `from_spec` as a Rule."""
    json_only = isinstance(fingerprint, dict) and fingerprint.get("json") is True
    given = {k: v for k, v in fingerprint.items() if k != "json"} if isinstance(fingerprint, dict) else {}
    if len(given) != 1:
        raise LabError(f"destination {name}: give exactly one of title, header or body",
                       "e.g. {title: httpbin.org} or {header: {x-version: v2}}")
    (kind, value), = given.items()
    if kind == "title":
        return Rule(title=str(value), json=json_only)
    if kind == "header" and isinstance(value, dict) and len(value) == 1:
        (header, expected), = value.items()
        return Rule(header=(str(header), str(expected)), json=json_only)
    if kind == "body":
        try:
            re.compile(str(value))
        except re.error as e:
            raise LabError(f"destination {name}: body pattern {value!r} is not a regex ({e})",
                           "fix the pattern") from None
        return Rule(body=str(value), json=json_only)
    raise LabError(f"destination {name}: {kind} is not a fingerprint",
                   "use title: TEXT, header: {NAME: VALUE} or body: REGEX")


def page_title(body: str) -> str | None:
    found = _TITLE.search(body)
    return found.group(1).strip() if found else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def describe(status: int, headers: Mapping[str, str], body: str) -> str:
    """A short description of an answer for 'why' messages."""
    if status == 0:
        return f"no answer ({body})" if body else "no answer"
    title = page_title(body)
    shown = f"title {title!r}" if title else repr(" ".join(body.split())[:60])
    version = _header(headers, "x-version")
    return f"HTTP {status}, {shown}" + (f", x-version {version}" if version else "")
