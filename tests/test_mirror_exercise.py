"""The mirror exercise through real Envoy, in both tracks: its check passes the right work (the catalogue
self-test plays the solutions) and fails the wrong answers its texts warn about — v2 put in the route
(users get its answers), a mirror of 0% (no copies) — with the diagnosis its hints speak to; and what
its texts promise: users see only v1 while `invoke metrics` shows v2's copies failing."""

import os
import re

import pytest

from lab.backends.select import current_backend
from lab.config import lab_paths
from lab.exercises.catalogue import Exercise, load_exercise
from lab.exercises.checks import run_check
from lab.exercises.walkthrough import Walkthrough
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

ISTIO, GATEWAY_API = load_exercise("mirror"), load_exercise("mirror-gateway-api")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("mirror"))
    lab.invoke("up", "--provider", "local")
    os.environ["CANARY_LAB_ROOT"] = str(lab.root)
    yield lab
    del os.environ["CANARY_LAB_ROOT"]
    lab.cleanup()


def checked(lab, exercise: Exercise, step_name: str, text: str):
    """The step's check once the learner applied `text`, on the lab as the step finds it."""
    paths = lab_paths()
    walkthrough = Walkthrough(exercise, current_backend(paths), paths, yes=True)
    index = [s.name for s in exercise.steps].index(step_name)
    walkthrough.reset()
    for earlier in exercise.steps[:index]:
        walkthrough.progress.mark_done(exercise.name, earlier.name)
    walkthrough.restore(index)
    lab.invoke("apply", "-", input=text)
    return run_check(exercise, exercise.step(step_name), current_backend(paths))


def solution(exercise: Exercise, name: str) -> str:
    return (exercise.folder / "solutions" / name).read_text()


def test_users_see_only_v1_while_metrics_show_v2s_copies_failing(lab):
    result = checked(lab, ISTIO, "mirror", solution(ISTIO, "virtualservice-mirror.yaml"))
    assert result.passed, result.message
    assert re.search(r"users got 0 of 400 answers from v2; v2 got (\d+) requests", result.message)
    metrics = " ".join(lab.invoke("metrics", "--host", "mirror.lab.local", "--requests", "400").stdout.split())
    v2 = re.search(r"shop\.shop-mirror \(v2\)\W+(\d+)\W+[\d.]+\W+(\d+)\W+([\d.]+)%", metrics)
    assert v2 and int(v2.group(1)) >= 380 and 8 <= float(v2.group(3)) <= 35, metrics   # ERROR_RATE 0.2


def test_v2_in_the_route_is_not_a_mirror(lab):
    text = solution(ISTIO, "virtualservice-mirror.yaml").replace(
        "        - destination: {host: shop, subset: v1}\n",
        "        - destination: {host: shop, subset: v1}\n          weight: 90\n"
        "        - destination: {host: shop, subset: v2}\n          weight: 10\n")
    result = checked(lab, ISTIO, "mirror", text)
    assert not result.passed and result.diagnosis == "destination-extra", result.message


@pytest.mark.parametrize("exercise, name, change", [
    (ISTIO, "virtualservice-mirror.yaml", ("mirrorPercentage: {value: 100}", "mirrorPercentage: {value: 0}")),
    (GATEWAY_API, "httproute-mirror.yaml", ("backendRef: {name: shop-v2, port: 80}",
                                            "backendRef: {name: shop-v2, port: 80}\n            percent: 0")),
])
def test_a_mirror_of_zero_percent_sends_no_copies(lab, exercise, name, change):
    text = solution(exercise, name)
    assert change[0] in text
    result = checked(lab, exercise, "mirror", text.replace(*change))
    assert not result.passed and result.diagnosis == "not-mirrored", result.message
    assert "percent" in result.hint.lower()
