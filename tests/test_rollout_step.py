"""The automated-rollout step's pieces that need no lab: the command a learner is shown, and the
check that reads what the last rollout left on the VirtualService (played for real through Envoy
by tests/test_catalogue.py)."""

import shlex

import pytest

from lab.exercises.catalogue import load_exercise
from lab.exercises.check_specs import RolloutCheck
from lab.exercises.rollout_check import rollout_check
from lab.rollout_record import RolloutRecord, read_record, record_patch


class Held:
    """A backend's `get` over objects by (kind, name): all the check reads."""
    name = "local"

    def __init__(self, *objects: dict):
        self.objects = {(o["kind"], o["metadata"]["name"]): o for o in objects}

    def get(self, ref):
        return self.objects.get((ref.kind, ref.name))


def virtual_service(record: RolloutRecord | None = None) -> dict:
    vs = {"kind": "VirtualService", "metadata": {"name": "shop", "namespace": "shop-auto"}}
    if record:
        import jsonpatch

        vs = jsonpatch.apply_patch(vs, record_patch(vs, record))
    return vs


def deployment(replicas: int) -> dict:
    return {"kind": "Deployment", "metadata": {"name": "shop-v1", "namespace": "shop-auto"},
            "spec": {"replicas": replicas}}


CHECK = RolloutCheck(virtualservice="shop", namespace="shop-auto", canary="v2", outcome="promoted",
                     scaled_down="shop-v1")
PROMOTED = RolloutRecord(stable="v1", canary="v2", outcome="promoted", weight=100, reason="errors 0.0% of 40 ≤ 1%")


def test_the_record_survives_a_round_trip_and_an_existing_annotation_map():
    vs = virtual_service(PROMOTED)
    assert read_record(vs) == PROMOTED
    vs["metadata"]["annotations"]["other"] = "kept"
    import jsonpatch

    again = jsonpatch.apply_patch(vs, record_patch(vs, RolloutRecord("v2", "v3", "rolled-back", 25, "errors 30%")))
    assert read_record(again).canary == "v3" and again["metadata"]["annotations"]["other"] == "kept"
    assert read_record({"metadata": {"annotations": {"canary-lab/last-rollout": "not json"}}}) is None


@pytest.mark.parametrize("held, passes, says", [
    ((virtual_service(), deployment(0)), False, "holds no rollout's outcome"),
    ((virtual_service(RolloutRecord("v1", "v2", "rolled-back", 25, "errors 9%")), deployment(0)), False,
     "was of v2, rolled back at 25%"),
    ((virtual_service(RolloutRecord("v1", "v3", "promoted", 100, "ok")), deployment(0)), False, "was of v3"),
    ((virtual_service(PROMOTED), deployment(2)), False, "still asks for 2 replica(s)"),
    ((virtual_service(PROMOTED),), False, "is not applied"),
    ((virtual_service(PROMOTED), deployment(0)), True, "v2 promoted at 100%"),
])
def test_the_check_passes_only_the_outcome_the_step_asks_for(held, passes, says):
    result = rollout_check(CHECK, Held(*held))
    assert result.passed is passes and says in result.message, result.message


def test_the_learner_is_shown_every_knob_of_the_rollout_and_it_parses_as_the_task_does():
    step = load_exercise("auto-rollout").step("promote-v2")
    words = shlex.split(step.rollout.command())
    assert words[:4] == ["invoke", "rollout", "VirtualService", "shop"]
    flags = dict(zip(words[4:-1:2], words[5:-1:2], strict=True))   # the last, --traffic, has no value
    assert flags == {"--namespace": "shop-auto", "--route": "main", "--stable": "v1", "--canary": "v2",
                     "--steps": "25,50,100", "--interval": "10", "--max-error-rate": "1", "--max-p95-ms": "500",
                     "--min-requests": "20", "--scale-down": "shop-v1"}
    assert words[-1] == "--traffic"
