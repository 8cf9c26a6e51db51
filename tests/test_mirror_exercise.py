"""The mirror exercise through real Envoy, in both tracks: its check passes the right work (the catalogue
self-test plays the solutions) and fails the wrong answers its texts warn about — v2 put in the route
(users get its answers), a mirror of 0% (no copies) — with the diagnosis its hints speak to; and what
its texts promise: users see only v1 while `invoke metrics` shows v2's copies failing."""

import re

import pytest

from lab.exercises.catalogue import load_exercise
from tests.exercise_steps import applied, exercise_lab, solution

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    yield from exercise_lab(tmp_path_factory)


ISTIO, GATEWAY_API = load_exercise("mirror"), load_exercise("mirror-gateway-api")


def test_users_see_only_v1_while_metrics_show_v2s_copies_failing(lab):
    _, result = applied(lab, ISTIO, "mirror", solution(ISTIO, "virtualservice-mirror.yaml"))
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
    _, result = applied(lab, ISTIO, "mirror", text)
    assert not result.passed and result.diagnosis == "destination-extra", result.message


@pytest.mark.parametrize("exercise, name, change", [
    (ISTIO, "virtualservice-mirror.yaml", ("mirrorPercentage: {value: 100}", "mirrorPercentage: {value: 0}")),
    (GATEWAY_API, "httproute-mirror.yaml", ("backendRef: {name: shop-v2, port: 80}",
                                            "backendRef: {name: shop-v2, port: 80}\n            percent: 0")),
])
def test_a_mirror_of_zero_percent_sends_no_copies(lab, exercise, name, change):
    text = solution(exercise, name)
    assert change[0] in text
    _, result = applied(lab, exercise, "mirror", text.replace(*change))
    assert not result.passed and result.diagnosis == "not-mirrored", result.message
    assert "percent" in result.hint.lower()
