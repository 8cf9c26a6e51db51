"""The check of an automated-rollout step: what the last `invoke rollout` of a VirtualService
decided, read from the record it left on the object (lab/rollout_record.py), and after a
promotion the old version's Deployment at 0 replicas. The step's traffic check then verifies
what the gateway serves."""

from lab.backends.base import Backend
from lab.exercises.check_result import CheckResult
from lab.exercises.check_specs import RolloutCheck
from lab.manifests import Ref
from lab.rollout_record import read_record

SAID = {"promoted": "promoted", "rolled-back": "rolled back"}


def rollout_check(spec: RolloutCheck, backend: Backend) -> CheckResult:
    ref = Ref("VirtualService", spec.namespace, spec.virtualservice)
    record = read_record(backend.get(ref))
    wanted = f"a rollout of {spec.canary} {SAID[spec.outcome]}"
    if record is None:
        return CheckResult(False, f"{ref} holds no rollout's outcome: no `invoke rollout` has run on it since it "
                                  f"was last applied (the step wants {wanted})")
    if record.canary != spec.canary or record.outcome != spec.outcome:
        said = SAID.get(record.outcome, record.outcome)
        return CheckResult(False, f"the last rollout of {ref} was of {record.canary}, {said} "
                                  f"at {record.weight}% ({record.reason}); the step wants {wanted}")
    message = f"the last rollout of {ref}: {record.canary} {SAID[record.outcome]} at {record.weight}% ({record.reason})"
    if spec.scaled_down:
        deployment = Ref("Deployment", spec.namespace, spec.scaled_down)
        held = backend.get(deployment)
        replicas = ((held or {}).get("spec") or {}).get("replicas", 1)
        if held is None or replicas != 0:
            return CheckResult(False, f"{message}, but {deployment} "
                               + ("is not applied" if held is None else f"still asks for {replicas} replica(s)")
                               + ": a finished promotion scales the old version to zero (--scale-down)")
        message += f"; {deployment} is at 0 replicas"
    return CheckResult(True, message)
