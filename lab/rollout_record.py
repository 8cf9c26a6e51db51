"""What the last rollout of a VirtualService decided, kept on the VirtualService itself.

As Argo Rollouts and Flagger keep a rollout's phase in the object's status, `invoke rollout` writes
its outcome to an annotation of the VirtualService it stepped: a check (and `invoke get`) can then
tell "this canary was rolled back by a rollout" from "this route was never given a canary". A later
apply of the VirtualService replaces the annotation, as it replaces the route the rollout left.
"""

import json
from dataclasses import asdict, dataclass

ANNOTATION = "canary-lab/last-rollout"
PROMOTED, ROLLED_BACK = "promoted", "rolled-back"


@dataclass(frozen=True)
class RolloutRecord:
    stable: str        # the destination that served before the rollout
    canary: str
    outcome: str       # PROMOTED or ROLLED_BACK
    weight: int        # the canary's last step: 100 when promoted, the breached step when rolled back
    reason: str        # the deciding window, as the rollout printed it


def record_patch(virtual_service: dict, record: RolloutRecord) -> list[dict]:
    """JSON-patch operations that set the annotation (adding the annotations map if it has none)."""
    value = json.dumps(asdict(record), ensure_ascii=False)
    if (virtual_service.get("metadata") or {}).get("annotations") is None:
        return [{"op": "add", "path": "/metadata/annotations", "value": {ANNOTATION: value}}]
    return [{"op": "add", "path": "/metadata/annotations/" + ANNOTATION.replace("~", "~0").replace("/", "~1"),
             "value": value}]


def read_record(virtual_service: dict | None) -> RolloutRecord | None:
    """The record on a VirtualService as the lab holds it; None if no rollout left one (or it is not one)."""
    raw = (((virtual_service or {}).get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
    if not isinstance(raw, str):
        return None
    try:
        fields = json.loads(raw)
        return RolloutRecord(**{k: fields[k] for k in RolloutRecord.__dataclass_fields__})
    except (TypeError, ValueError, KeyError):
        return None
