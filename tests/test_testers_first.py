"""testers-first through real Envoy: its check fails the wrong answers its texts warn about (the
testers' route below the catch-all; a header value in another case), with the diagnosis its hints
speak to, and the apply of the wrong order prints Istio's IST0130 warning. In the Gateway API track
the testers' rule written after the catch-all passes: the spec ranks a header match first."""

import pytest

from lab.exercises.catalogue import load_exercise
from tests.exercise_steps import applied, exercise_lab, solution

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    yield from exercise_lab(tmp_path_factory)


ISTIO, GATEWAY_API = load_exercise("testers-first"), load_exercise("testers-first-gateway-api")


def swapped(text: str, first: str, second: str) -> str:
    """The two rules (list items named first and second, in that order) written the other way round."""
    head, rest = text.split(f"    - name: {first}\n")
    one, two = rest.split(f"    - name: {second}\n")
    return head + f"    - name: {second}\n" + two + f"    - name: {first}\n" + one


def test_the_testers_route_below_the_catch_all_is_shadowed_and_apply_warns(lab):
    text = swapped(solution(ISTIO, "virtualservice-testers.yaml"), "testers", "everyone")
    out, result = applied(lab, ISTIO, "testers-first", text)
    assert 'virtualService rule "testers" not used (route without matches defined before)' in out
    assert not result.passed and result.diagnosis == "route-shadowed", result.message
    assert "move testers above it" in result.hint


@pytest.mark.parametrize("exercise, name", [(ISTIO, "virtualservice-testers.yaml"),
                                            (GATEWAY_API, "httproute-testers.yaml")])
def test_a_header_value_in_another_case_does_not_match(lab, exercise, name):
    _, result = applied(lab, exercise, "testers-first", solution(exercise, name).replace("canary", "Canary"))
    assert not result.passed and result.diagnosis == "header-mismatch", result.message


def test_in_the_gateway_api_the_testers_rule_wins_wherever_it_is_written(lab):
    text = solution(GATEWAY_API, "httproute-testers.yaml")
    assert text.index("name: everyone") < text.index("name: testers")   # after the catch-all
    _, result = applied(lab, GATEWAY_API, "testers-first", text)
    assert result.passed, result.message
    _, result = applied(lab, GATEWAY_API, "testers-first", swapped(text, "everyone", "testers"))
    assert result.passed, result.message   # and before it: the same routes
