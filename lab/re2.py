"""Regexes as Istio and Envoy take them: RE2, checked before Envoy sees them and matched in linear time.

A learner's regex is never run by Python's backtracking `re`: `(.*.*.*)*Z` takes Python minutes
on a long value, and RE2 (google-re2, the engine Envoy itself links) answers in microseconds. Every
regex of a learner the lab evaluates goes through `fullmatch` here.
"""

import functools
import re

import re2

from lab.errors import ManifestError

MAX_LENGTH = 1024   # istio pkg/config/validation: validateStringRegexp refuses longer ones
# What RE2 (Envoy's and Istio's regex engine) lacks of Python's: lookaround, backreferences,
# atomic groups and possessive quantifiers (github.com/google/re2/wiki/Syntax). RE2 refuses them
# too; this names them in words a learner coming from Python or PCRE recognises.
NOT_RE2 = re.compile(r"\(\?(=|!|<=|<!|P=|>)|\\[1-9]|[*+?}][+]")


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False   # RE2 logs each refused pattern to stderr; the lab says it in one line
    return options


@functools.lru_cache(maxsize=256)
def _compiled(regex: str) -> re2._Regexp:
    return re2.compile(regex, options=_options())


def compile_error(regex: str) -> str:
    """Why RE2 refuses `regex` ("" when it takes it)."""
    try:
        _compiled(regex)
    except re2.error as e:
        reason = e.args[0] if e.args else e
        return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
    return ""


def fullmatch(regex: str, text: str) -> bool:
    """Envoy's safe_regex match (RE2::FullMatch): the whole value, linear in its length. A regex
    RE2 refuses matches nothing, as a route Envoy never loaded matches nothing."""
    if compile_error(regex):
        return False
    return _compiled(regex).fullmatch(text) is not None


def check_re2(ref: object, where: str, regex: str) -> None:
    """istio pkg/config/validation validateStringRegexp: non-empty, at most 1024 long, RE2 syntax
    (Go's regexp.Compile, which takes RE2's syntax)."""
    if not regex:
        raise ManifestError(f"{ref}: {where} is empty; Istio refuses it", "give a regex, or use prefix: /")
    if len(regex) > MAX_LENGTH:
        raise ManifestError(f"{ref}: {where} is {len(regex)} long; Istio allows at most {MAX_LENGTH}",
                            "shorten the regex")
    if NOT_RE2.search(regex):
        raise ManifestError(f"{ref}: {where} {regex!r} uses what RE2 lacks (lookaround, backreferences, "
                            "atomic or possessive groups); Istio refuses it",
                            "rewrite it without them (RE2 syntax: github.com/google/re2/wiki/Syntax)")
    reason = compile_error(regex)
    if "pattern too large" in reason:   # Go's regexp takes it; Envoy's RE2 cannot compile it, and NACKs
        raise ManifestError(f"{ref}: {where} {regex!r} is too large for RE2 to compile; Istio would accept it and "
                            "the gateway's Envoy reject it", "use fewer or smaller repetitions")
    if reason:
        raise ManifestError(f"{ref}: {where} {regex!r} is not a valid RE2 regex ({reason}); Istio refuses it",
                            "Istio and Envoy use RE2 syntax (github.com/google/re2/wiki/Syntax): e.g. \\z, "
                            "not \\Z, ends the text")
