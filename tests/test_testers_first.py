"""testers-first through real Envoy: its check fails the wrong answers its texts warn about (the
testers' route below the catch-all; a header value in another case), with the diagnosis its hints
speak to, and the apply of the wrong order prints Istio's IST0130 warning. In the Gateway API track
the testers' rule written after the catch-all passes: the spec ranks a header match first."""

import os

import pytest

from lab.backends.select import current_backend
from lab.config import lab_paths
from lab.exercises.catalogue import Exercise, load_exercise
from lab.exercises.checks import run_check
from lab.exercises.walkthrough import Walkthrough
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

ISTIO, GATEWAY_API = load_exercise("testers-first"), load_exercise("testers-first-gateway-api")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("testers"))
    lab.invoke("up", "--provider", "local")
    os.environ["CANARY_LAB_ROOT"] = str(lab.root)
    yield lab
    del os.environ["CANARY_LAB_ROOT"]
    lab.cleanup()


def applied(lab, exercise: Exercise, text: str):
    """The lab at the task, the learner's `text` applied: the apply's output and the task's check."""
    paths = lab_paths()
    walkthrough = Walkthrough(exercise, current_backend(paths), paths, yes=True)
    index = [s.name for s in exercise.steps].index("testers-first")
    walkthrough.reset()
    for earlier in exercise.steps[:index]:
        walkthrough.progress.mark_done(exercise.name, earlier.name)
    walkthrough.restore(index)
    out = lab.invoke("apply", "-", input=text).stdout
    return " ".join(out.split()), run_check(exercise, exercise.step("testers-first"), current_backend(paths))


def below_the_catch_all(solution: str) -> str:
    head, rest = solution.split("    - name: testers\n")
    testers, everyone = rest.split("    - name: everyone\n")
    return head + "    - name: everyone\n" + everyone + "    - name: testers\n" + testers


def test_the_testers_route_below_the_catch_all_is_shadowed_and_apply_warns(lab):
    solution = (ISTIO.folder / "solutions" / "virtualservice-testers.yaml").read_text()
    out, result = applied(lab, ISTIO, below_the_catch_all(solution))
    assert 'virtualService rule "testers" not used (route without matches defined before)' in out
    assert not result.passed and result.diagnosis == "route-shadowed", result.message
    assert "move testers above it" in result.hint


@pytest.mark.parametrize("exercise, solution", [(ISTIO, "virtualservice-testers.yaml"),
                                                (GATEWAY_API, "httproute-testers.yaml")])
def test_a_header_value_in_another_case_does_not_match(lab, exercise, solution):
    text = (exercise.folder / "solutions" / solution).read_text()
    _, result = applied(lab, exercise, text.replace("canary", "Canary"))
    assert not result.passed and result.diagnosis == "header-mismatch", result.message


def test_in_the_gateway_api_the_testers_rule_wins_wherever_it_is_written(lab):
    solution = (GATEWAY_API.folder / "solutions" / "httproute-testers.yaml").read_text()
    assert solution.index("name: everyone") < solution.index("name: testers")   # after the catch-all
    _, result = applied(lab, GATEWAY_API, solution)
    assert result.passed, result.message
    head, rest = solution.split("    - name: everyone\n")
    everyone, testers = rest.split("    - name: testers\n")
    _, result = applied(lab, GATEWAY_API, head + "    - name: testers\n" + testers + "    - name: everyone\n" + everyone)
    assert result.passed, result.message   # and before it: the same routes
