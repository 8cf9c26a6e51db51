"""Coming back to an exercise: where to start, and the lab put back to where that step expects it."""

from pathlib import Path

from lab import ui
from lab.backends.base import Backend
from lab.config import Paths
from lab.exercises.catalogue import Exercise, Step
from lab.exercises.working_copy import work_file
from lab.manifests import load_manifest_file, ref_of
from lab.patches import load_patch
from lab.state import Progress


def first_unfinished(exercise: Exercise, progress: Progress) -> int:
    """The index of the first step neither done nor skipped (len(steps) when all are)."""
    seen = set(progress.done(exercise.name)) | set(progress.skipped(exercise.name))
    for index, step in enumerate(exercise.steps):
        if step.name not in seen:
            return index
    return len(exercise.steps)


def rendered(step: Step, values: list[Path] | tuple[Path, ...]) -> list[dict]:
    """The objects of the step's Helm chart with these values files."""
    from lab.helm import render

    return render(step.helm.chart, step.helm.release, step.helm.namespace, list(values))


def restore(exercise: Exercise, backend: Backend, paths: Paths, before: int, force: bool = True) -> None:
    """Bring the lab to where step `before` expects it: replay earlier apply steps and solved tasks.
    Unless forced, a lab that still holds every object those steps made is left as it is: it may
    hold what the learner applied for the current step before quitting."""
    done = Progress(paths).done(exercise.name)
    objects = []
    for step in exercise.steps[:before]:
        if step.backends and backend.name not in step.backends:
            continue
        if step.kind == "apply":
            for manifest in step.manifests:
                objects += load_manifest_file(manifest)
        elif step.kind == "helm":
            objects += rendered(step, step.values)
        elif step.kind == "task" and step.name in done:
            work = work_file(paths, exercise, step) if step.workfile else None
            source = work if work and work.exists() else step.solution
            if step.patch:
                objects.append((step.patch, load_patch(source)))
            elif step.helm:
                objects += rendered(step, [source])
            else:
                objects += load_manifest_file(source)
    if not force and all(backend.get(ref_of(o)) is not None for o in objects if isinstance(o, dict)):
        return
    if objects:
        with ui.step("restoring the lab to where you left off"):
            batch: list[dict] = []
            for item in objects + [None]:  # in step order: a patch needs what was applied before it
                if isinstance(item, dict):
                    batch.append(item)
                    continue
                if batch:
                    backend.apply(batch)
                    batch = []
                if item is not None:
                    backend.patch(*item)
