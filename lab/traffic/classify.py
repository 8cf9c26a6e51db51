"""Which app answered: each destination has a fingerprint (page title, a header, or a body pattern)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lab.errors import LabError

ERROR = "error"                # no answer, or HTTP 5xx
UNCLASSIFIED = "unclassified"  # an answer no fingerprint matched

_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Rule:
    """One destination's fingerprint; exactly one field is set."""
    title: str | None = None
    header: tuple[str, str] | None = None
    body: str | None = None

    def matches(self, headers: Mapping[str, str], body: str) -> bool:
        if self.title is not None:
            return page_title(body) == self.title
        if self.header is not None:
            name, value = self.header
            return _header(headers, name) == value
        return re.search(self.body, body) is not None


@dataclass(frozen=True)
class Classifier:
    rules: dict[str, Rule]

    def classify(self, status: int, headers: Mapping[str, str], body: str) -> str:
        if status == 0 or status >= 500:
            return ERROR
        return self.identify(headers, body)

    def identify(self, headers: Mapping[str, str], body: str) -> str:
        """Which destination sent this answer, whatever its status (a failing app still says who it is)."""
        for name, rule in self.rules.items():
            if rule.matches(headers, body):
                return name
        return UNCLASSIFIED

    @classmethod
    def from_spec(cls, spec: dict) -> "Classifier":
        """{"httpbin": {"title": "httpbin.org"}, "v2": {"header": {"x-version": "v2"}}, "x": {"body": "re"}}"""
        rules = {}
        for name, fingerprint in (spec or {}).items():
            if not isinstance(fingerprint, dict) or len(fingerprint) != 1:
                raise LabError(f"destination {name}: give exactly one of title, header or body",
                               "e.g. {title: httpbin.org} or {header: {x-version: v2}}")
            (kind, value), = fingerprint.items()
            if kind == "title":
                rules[name] = Rule(title=str(value))
            elif kind == "header" and isinstance(value, dict) and len(value) == 1:
                (header, expected), = value.items()
                rules[name] = Rule(header=(str(header), str(expected)))
            elif kind == "body":
                try:
                    re.compile(str(value))
                except re.error as e:
                    raise LabError(f"destination {name}: body pattern {value!r} is not a regex ({e})",
                                   "fix the pattern") from None
                rules[name] = Rule(body=str(value))
            else:
                raise LabError(f"destination {name}: {kind} is not a fingerprint",
                               "use title: TEXT, header: {NAME: VALUE} or body: REGEX")
        if not rules:
            raise LabError("no destinations to tell answers apart", "give each destination a fingerprint")
        return cls(rules)


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
