"""Learners' regexes are RE2, as Istio and Envoy take them: refused as Istio refuses them, and
matched by the lab's own checks in linear time, never by Python's backtracking engine."""

import time

import pytest

from lab import re2
from lab.errors import ManifestError
from lab.exercises.served import route_matches

# Envoy accepts this; Python's `re` backtracks on it for minutes (seen: over 90 s for a 30-byte value).
CATASTROPHIC = "(" + ".*" * 20 + ")*Z"


def test_a_regex_that_backtracks_for_minutes_in_python_is_matched_at_once():
    started = time.monotonic()
    assert not re2.fullmatch(CATASTROPHIC, "a" * 10_000)
    assert re2.fullmatch(CATASTROPHIC, "a" * 10_000 + "Z")
    assert time.monotonic() - started < 1.0


def test_the_lab_check_picks_routes_by_a_header_regex_without_hanging():
    conditions = {"prefix": "/",
                  "headers": [{"name": "x-track", "string_match": {"safe_regex": {"regex": CATASTROPHIC}}}]}
    started = time.monotonic()
    assert not route_matches(conditions, "/", {"X-Track": "b" * 5_000})
    assert route_matches({"safe_regex": {"regex": "/api/v[0-9]+"}}, "/api/v2?x=1", {})
    assert not route_matches({"safe_regex": {"regex": "/api/v[0-9]+"}}, "/api/v2/more", {})   # whole path, as Envoy
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("regex, text, matches", [
    ("a|ab", "ab", True),          # a full match tries every alternative (RE2::FullMatch)
    ("(?i)canary", "CANARY", True),
    ("v\\d", "v2", True),
    ("caf.", "café", True),        # one character, not one byte: UTF-8, as Envoy reads headers
    ("x", "xx", False),
])
def test_matching_is_envoys_full_match(regex, text, matches):
    assert re2.fullmatch(regex, text) is matches


def test_a_regex_re2_refuses_matches_nothing():
    assert not re2.fullmatch("/foo\\Z", "/foo")


@pytest.mark.parametrize("regex, phrase", [
    ("(?<=a)b", "uses what RE2 lacks"),
    ("(a)\\1", "uses what RE2 lacks"),
    ("/foo\\Z", "is not a valid RE2 regex (invalid escape sequence: \\Z)"),   # Go's regexp refuses it too
    ("a{1001}", "is not a valid RE2 regex"),                                   # past RE2's repeat limit
    ("(", "is not a valid RE2 regex"),
    ("", "is empty"),
    ("a" * 1025, "at most 1024"),
])
def test_istio_refuses_what_re2_cannot_compile(regex, phrase):
    with pytest.raises(ManifestError) as refused:
        re2.check_re2("VirtualService canary-lab/canary", "match.uri.regex", regex)
    assert phrase in str(refused.value)


def test_re2_takes_what_istio_takes():
    for regex in ("/foo\\z", "^/api/(v1|v2)/.*$", "[[:alpha:]]+", "\\pL+", "a{1000}"):
        re2.check_re2("VirtualService canary-lab/canary", "match.uri.regex", regex)
