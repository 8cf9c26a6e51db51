"""The sticky exercise through real Envoy: its checks pass the right work (the catalogue self-test plays
the solutions) and fail the wrong answers its texts warn about — a hash on something the browser does
not send, an exact match on a cookie header that carries several cookies, the cookie route below the
catch-all — with the diagnosis its hints speak to. And what it teaches: with the hash, one session
reaches one pod per version while the weights still split it."""

import pytest

from lab.exercises.catalogue import load_exercise
from tests.exercise_steps import applied, exercise_lab, solution

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    yield from exercise_lab(tmp_path_factory)


EXERCISE = load_exercise("sticky")


def test_a_hashed_session_reaches_one_pod_per_version_and_still_both_versions(lab):
    _, result = applied(lab, EXERCISE, "hash-sessions", solution(EXERCISE, "destinationrule-hash.yaml"))
    assert result.passed, result.message
    assert "v1: " in result.message and "v2: " in result.message and "to 1 pod(s)" in result.message


def test_counters_that_saw_no_request_never_pass_the_step(lab, monkeypatch):
    """A gateway whose per-pod counters show none of the session's requests (read from another Envoy,
    or reset) is no evidence that the session was pinned."""
    from lab.envoy_admin import EnvoyAdmin

    monkeypatch.setattr(EnvoyAdmin, "host_requests", lambda self: {})
    _, result = applied(lab, EXERCISE, "hash-sessions", solution(EXERCISE, "destinationrule-hash.yaml"))
    assert not result.passed and "counted none of these" in result.message, result.message


def test_a_hash_on_a_header_the_browser_does_not_send_pins_nothing(lab):
    text = solution(EXERCISE, "destinationrule-hash.yaml").replace(
        "        httpCookie:\n          name: session\n          ttl: 0s\n", "        httpHeaderName: x-session\n")
    _, result = applied(lab, EXERCISE, "hash-sessions", text)
    assert not result.passed and result.diagnosis == "not-sticky", result.message


def test_an_exact_match_on_the_cookie_header_misses_a_browser_with_two_cookies(lab):
    text = solution(EXERCISE, "virtualservice-ab.yaml").replace('regex: "^(.*; )?track=canary(;.*)?$"',
                                                                "exact: track=canary")
    _, result = applied(lab, EXERCISE, "ab-by-cookie", text)
    assert not result.passed and result.diagnosis == "header-mismatch", result.message


def test_the_cookie_route_below_the_catch_all_is_shadowed(lab):
    head, rest = solution(EXERCISE, "virtualservice-ab.yaml").split("    - name: track-canary\n")
    cookie_route, main = rest.split("    - name: main\n")
    _, result = applied(lab, EXERCISE, "ab-by-cookie",
                        head + "    - name: main\n" + main + "    - name: track-canary\n" + cookie_route)
    assert not result.passed and result.diagnosis == "route-shadowed", result.message
