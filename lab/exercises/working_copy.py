"""The learner's working copy of a task step: where it lives, how to apply it, and how it
compares with what the lab runs and with the solution.

Shared by the walkthrough and `invoke check`, so both spot the same slips.
"""

import copy
import difflib
from pathlib import Path

import jsonpatch
from rich.markup import escape

from lab.backends.base import Backend
from lab.config import Paths
from lab.errors import LabError
from lab.exercises.catalogue import Exercise, Step
from lab.helm import render
from lab.manifests import load_manifest_file, ref_of
from lab.patches import load_patch


def work_file(paths: Paths, exercise: Exercise, step: Step) -> Path:
    return paths.work_dir / exercise.name / step.required_workfile.name


def shown_path(path: Path) -> str:
    """The path as the learner would type it from where they run invoke."""
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def apply_command(step: Step, work: Path) -> str:
    """The command that applies this working copy: apply, patch or helm, as the step's solution is."""
    if step.patch:
        ref = step.patch
        return f"invoke patch {ref.kind} {ref.name} --namespace {ref.namespace} --patch-file {shown_path(work)}"
    if step.helm:
        return (f"invoke helm {shown_path(step.helm.chart)} --release {step.helm.release} "
                f"--namespace {step.helm.namespace} --values {shown_path(work)}")
    return f"invoke apply {shown_path(work)}"


def not_applied(step: Step, work: Path | None, backend: Backend) -> str:
    """A common slip: the working copy was edited but never applied. Returns what to tell the
    learner ("" when the lab runs what the working copy says, or when that cannot be told).
    A manifest is compared with the objects the lab holds, a JSON patch by patching the object
    the lab holds (a patch already applied changes nothing), a values file by rendering the chart."""
    if work is None or not work.exists():
        return ""
    try:
        wanted = _what_the_working_copy_makes(step, work, backend)
    except LabError as e:
        return f"[yellow]Your working copy does not load:[/] {escape(str(e))}"
    for obj in wanted:
        live = backend.get(ref_of(obj))
        if live is None or not holds(live.get("spec"), obj.get("spec")):
            return (f"[yellow]Your working copy differs from what the lab runs.[/] "
                    f"Did you run `{apply_command(step, work)}`?")
    return ""


def holds(live, wanted) -> bool:
    """What the lab holds says everything the working copy says. It may say more: an API server
    fills in defaults (the Gateway API's weight 1, PathPrefix /, kind Service), as the local lab does."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(holds(live.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(live, list) and len(live) == len(wanted) and all(map(holds, live, wanted))
    return live == wanted


def _what_the_working_copy_makes(step: Step, work: Path, backend: Backend) -> list[dict]:
    if step.patch:
        live = backend.get(step.patch)
        if live is None:
            return []      # nothing to patch: the check's own message says what is missing
        try:
            return [jsonpatch.apply_patch(live, load_patch(work))]
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as e:
            raise LabError(f"the patch does not apply to {step.patch}: {e}", "check each operation's path") from None
    if step.helm:
        return render(step.helm.chart, step.helm.release, step.helm.namespace, [work])
    return load_manifest_file(work)


def solution_diff(step: Step, work: Path | None) -> str:
    """A unified diff from the working copy to the solution ("" when they are the same)."""
    mine = work.read_text() if work is not None and work.exists() else ""
    solution = step.required_solution.read_text()
    lines = difflib.unified_diff(mine.splitlines(keepends=True), solution.splitlines(keepends=True),
                                 fromfile="your working copy", tofile="solution")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def solution_objects(exercise: Exercise, step: Step) -> list[dict]:
    """The solution as whole objects, whatever shape the lab's copy is in now: a JSON patch's solution is
    applied to the object as the exercise's files make it (a positional patch on the learner's object,
    whose routes may be in another order, would change the wrong ones)."""
    if step.solution is None:
        raise LabError(f"step {step.name} has no solution to apply", "a task step names its solution")
    if not step.patch:
        return load_manifest_file(step.solution)
    made = [o for earlier in exercise.steps[:exercise.steps.index(step)] for manifest in earlier.manifests
            for o in load_manifest_file(manifest) if ref_of(o) == step.patch]
    if not made:
        raise LabError(f"no earlier step of {exercise.name} makes {step.patch}, which the solution patches",
                       "apply the solution patch by hand: `invoke patch`")
    try:
        return [jsonpatch.apply_patch(copy.deepcopy(made[-1]), load_patch(step.solution))]
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
        raise LabError(f"the solution of {step.name} does not apply to {step.patch}: {e}",
                       "report it: the exercise's files disagree") from None


def left_behind(step: Step, work: Path | None) -> list:
    """Objects the working copy makes that the solution does not (a second VirtualService for the host,
    say): once the solution replaces the working copy, nothing should still make them."""
    if step.patch or step.helm or step.solution is None or work is None or not work.exists():
        return []
    try:
        mine = {ref_of(o) for o in load_manifest_file(work)}
    except LabError:
        return []
    return sorted(mine - {ref_of(o) for o in load_manifest_file(step.solution)}, key=str)
