"""The sticky exercise through real Envoy: its checks pass the right work (the catalogue self-test plays
the solutions) and fail the wrong answers its texts warn about — a hash on something the browser does
not send, an exact match on a cookie header that carries several cookies, the cookie route below the
catch-all — with the diagnosis its hints speak to. And what it teaches: with the hash, one session
reaches one pod per version while the weights still split it."""

import os

import pytest

from lab.backends.select import current_backend
from lab.config import lab_paths
from lab.exercises.catalogue import load_exercise
from lab.exercises.checks import run_check
from lab.exercises.walkthrough import Walkthrough
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

EXERCISE = load_exercise("sticky")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("sticky"))
    lab.invoke("up", "--provider", "local")
    os.environ["CANARY_LAB_ROOT"] = str(lab.root)
    yield lab
    del os.environ["CANARY_LAB_ROOT"]
    lab.cleanup()


def checked(lab, step_name: str, text: str):
    paths = lab_paths()
    walkthrough = Walkthrough(EXERCISE, current_backend(paths), paths, yes=True)
    index = [s.name for s in EXERCISE.steps].index(step_name)
    walkthrough.reset()
    for earlier in EXERCISE.steps[:index]:
        walkthrough.progress.mark_done(EXERCISE.name, earlier.name)
    walkthrough.restore(index)
    lab.invoke("apply", "-", input=text)
    return run_check(EXERCISE, EXERCISE.step(step_name), current_backend(paths))


def solution(name: str) -> str:
    return (EXERCISE.folder / "solutions" / name).read_text()


def test_a_hashed_session_reaches_one_pod_per_version_and_still_both_versions(lab):
    result = checked(lab, "hash-sessions", solution("destinationrule-hash.yaml"))
    assert result.passed, result.message
    assert "v1: " in result.message and "v2: " in result.message and "to 1 pod(s)" in result.message


def test_a_hash_on_a_header_the_browser_does_not_send_pins_nothing(lab):
    text = solution("destinationrule-hash.yaml").replace(
        "        httpCookie:\n          name: session\n          ttl: 0s\n", "        httpHeaderName: x-session\n")
    result = checked(lab, "hash-sessions", text)
    assert not result.passed and result.diagnosis == "not-sticky", result.message


def test_an_exact_match_on_the_cookie_header_misses_a_browser_with_two_cookies(lab):
    text = solution("virtualservice-ab.yaml").replace('regex: "^(.*; )?track=canary(;.*)?$"', "exact: track=canary")
    result = checked(lab, "ab-by-cookie", text)
    assert not result.passed and result.diagnosis == "header-mismatch", result.message


def test_the_cookie_route_below_the_catch_all_is_shadowed(lab):
    text = solution("virtualservice-ab.yaml")
    head, rest = text.split("    - name: track-canary\n")
    cookie_route, main = rest.split("    - name: main\n")
    result = checked(lab, "ab-by-cookie", head + "    - name: main\n" + main + "    - name: track-canary\n" + cookie_route)
    assert not result.passed and result.diagnosis == "route-shadowed", result.message
