"""Regexes as Istio takes them: RE2 syntax (Envoy's and Istio's engine), checked before Envoy sees them."""

import re

from lab.errors import ManifestError

# What RE2 (Envoy's and Istio's regex engine) lacks of Python's: lookaround, backreferences,
# atomic groups and possessive quantifiers (github.com/google/re2/wiki/Syntax).
NOT_RE2 = re.compile(r"\(\?(=|!|<=|<!|P=|>)|\\[1-9]|[*+?}][+]")


def check_re2(ref, where: str, regex: str) -> None:
    """istio pkg/config/validation validateStringRegexp: non-empty, at most 1024 long, RE2 syntax."""
    if not regex:
        raise ManifestError(f"{ref}: {where} is empty; Istio refuses it", "give a regex, or use prefix: /")
    if len(regex) > 1024:
        raise ManifestError(f"{ref}: {where} is {len(regex)} long; Istio allows at most 1024", "shorten the regex")
    try:
        re.compile(regex)
    except re.error as e:
        raise ManifestError(f"{ref}: {where} {regex!r} is not a valid regex ({e})",
                            "Istio uses RE2 syntax (github.com/google/re2/wiki/Syntax)") from None
    if NOT_RE2.search(regex):
        raise ManifestError(f"{ref}: {where} {regex!r} uses what RE2 lacks (lookaround, backreferences, "
                            "atomic or possessive groups); Istio refuses it",
                            "rewrite it without them (RE2 syntax: github.com/google/re2/wiki/Syntax)")
