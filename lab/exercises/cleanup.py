"""What a finished exercise leaves on a cluster, and how to remove it.

On a cluster every exercise leaves its pods running (each with an Istio sidecar) and, in the Gateway
API track, a gateway Istio deployed per Gateway: a few exercises in, a small cluster is full. What an
exercise made is what its files say: the Namespaces it defines (deleting one takes what is in it,
Helm releases' records included) and the objects it makes in namespaces it does not define (canary's
Gateway, HTTPRoute and VirtualService in canary-lab, beside the sample apps that `up` keeps).
"""

from pathlib import Path

from lab.errors import LabError
from lab.exercises.catalogue import Exercise
from lab.manifests import Ref, load_manifest_file, ref_of


def leftovers(exercise: Exercise) -> list[Ref]:
    """The Namespaces the exercise's files define, then its objects outside them."""
    objects = [obj for path in _files(exercise) for obj in _objects(path)]
    namespaces = sorted({obj["metadata"]["name"] for obj in objects if obj.get("kind") == "Namespace"})
    outside = {ref_of(obj) for obj in objects if obj.get("kind") != "Namespace"
               and (obj.get("metadata") or {}).get("namespace", "default") not in namespaces}
    return [Ref("Namespace", "", name) for name in namespaces] + sorted(outside, key=str)


def delete_commands(refs: list[Ref]) -> list[str]:
    """The `invoke delete` lines that remove them, as the learner would type them."""
    return [f"invoke delete {_kind(ref)} {ref.name}" + (f" -n {ref.namespace}" if ref.namespace else "")
            for ref in refs]


def _kind(ref: Ref) -> str:
    return f"{ref.kind.lower()}.{ref.group}" if ref.group else ref.kind.lower()


def _files(exercise: Exercise) -> list[Path]:
    files = {path for step in exercise.steps for path in (*step.manifests, step.solution) if path}
    return sorted(path for path in files if path.suffix in (".yaml", ".yml"))


def _objects(path: Path) -> list[dict]:
    try:
        return [obj for obj in load_manifest_file(path) if isinstance(obj, dict) and obj.get("kind")
                and isinstance(obj.get("metadata"), dict) and obj["metadata"].get("name")]
    except LabError:
        return []   # a JSON patch or a Helm values file: no objects of its own
