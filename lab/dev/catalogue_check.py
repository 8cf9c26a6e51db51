"""The catalogue self-test for exercise authors (`invoke dev.check`, as rustlings' `dev check`).

Every exercise is loaded as the lab loads it (the typed models refuse a bad check spec, destination,
step, question or hint at load), then each step's files are read as the lab would read them: the
manifests, solutions and working copies an apply or task step applies must pass what an apply on
that step's backends would refuse (lab/backends/local/schema.py check_object for a step the local
lab plays, lab/validate.py validate for a cluster-only one), JSON patches must parse and apply to
their object, and charts must render with their values. Nothing is applied and no lab is needed.
Whether solutions pass their checks on a running lab is the suite's slower half (test_catalogue.py).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from lab import ui
from lab.backends.local.schema import check_object
from lab.config import EXERCISES_DIR
from lab.errors import LabError
from lab.exercises.catalogue import CATALOGUE_FILE, Exercise, Step, exercise_names, load_exercise
from lab.exercises.check_specs import ScaleCheck
from lab.helm import helm_source, render
from lab.manifests import Ref, load_manifest_file, ref_of
from lab.patches import apply_patch, load_patch
from lab.validate import validate

LOCAL = "local"


@dataclass
class Report:
    """What the self-test found in one exercise (or in the catalogue file, named as its file)."""
    name: str
    steps: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # what was not checked here, and why


def check_catalogue(root: Path = EXERCISES_DIR) -> Iterator[Report]:
    """A report per exercise, in the catalogue's order; first the catalogue file's own, if it has problems."""
    try:
        names = exercise_names(root)
    except LabError as e:
        yield Report(CATALOGUE_FILE, problems=[e.message])
        return
    unlisted = sorted(p.parent.name for p in root.glob("*/exercise.yaml") if p.parent.name not in names)
    if unlisted:
        yield Report(CATALOGUE_FILE, problems=[f"{CATALOGUE_FILE} does not list {', '.join(unlisted)} "
                                               "(add each to exercises:, or its base to gateway_api:)"])
    for name in names:
        yield check_exercise(name, root)


def check_exercise(name: str, root: Path = EXERCISES_DIR) -> Report:
    report = Report(name)
    try:
        exercise = load_exercise(name, root)
    except LabError as e:
        report.problems.append(e.message)
        return report
    report.steps = len(exercise.steps)
    helm_at_hand = helm_source()[0]
    checked: set[tuple[Path, bool]] = set()   # a file several steps apply is checked (and reported) once
    for step in exercise.steps:
        where = f"step {step.name}"
        if not (step.text.strip() or step.question):
            report.problems.append(f"{where}: no text (give it text: steps/NN-{step.name}.md)")
        if step.kind == "task" and not step.hints:
            report.problems.append(f"{where}: a task step needs at least one hint")
        if step.helm and not helm_at_hand:
            report.notes.append(f"{where}: chart not rendered: helm is not at hand (`invoke up` fetches it)")
        report.problems += [f"{where}: {problem}" for problem in _file_problems(exercise, step, helm_at_hand, checked)]
    return report


def _file_problems(exercise: Exercise, step: Step, helm_at_hand: bool,
                   checked: set[tuple[Path, bool]]) -> Iterator[str]:
    """One line per file the lab would refuse when this step applies it."""
    plain = not step.patch and not step.helm   # a patch step's files are patches; a helm task's are values
    files = [*step.manifests, *(f for f in (step.solution, step.workfile) if f and plain)]
    files += [exercise.folder / check.spec.load for check in step.check if isinstance(check.spec, ScaleCheck)]
    local = not step.backends or LOCAL in step.backends
    for path in files:
        if (path, local) in checked:
            continue
        checked.add((path, local))
        yield from _objects_problems(path, _shown(exercise, path), partial(load_manifest_file, path), local)
    if step.helm and helm_at_hand:
        helm = step.helm
        for values in [list(step.values), *([f] for f in (step.solution, step.workfile) if f)]:
            shown = f"{helm.chart.name} with {', '.join(_shown(exercise, v) for v in values) or 'its defaults'}"
            rendered = partial(render, helm.chart, helm.release, helm.namespace, values)
            yield from _objects_problems(helm.chart, shown, rendered, local)
    if step.patch:
        target = _target(exercise, step.patch)
        for patch_file in (f for f in (step.solution, step.workfile) if f):
            try:
                operations = load_patch(patch_file)
                if target is not None:
                    _check(apply_patch(target, operations, str(step.patch)), local)
            except LabError as e:
                yield _said(e, patch_file, _shown(exercise, patch_file))
        if target is None:
            yield f"patch: no manifest of the exercise is {step.patch} (the object its patches change)"


def _objects_problems(path: Path, shown: str, objects: Callable[[], list[dict]], local: bool) -> Iterator[str]:
    try:
        for obj in objects():
            _check(obj, local)
    except LabError as e:
        yield _said(e, path, shown)


def _said(error: LabError, path: Path, shown: str) -> str:
    """The error's line, prefixed with the file as the exercise names it (and that name for its full path)."""
    message = error.message.replace(str(path), shown)
    return message if message.startswith(f"{shown}: ") else f"{shown}: {message}"


def _check(obj: dict, local: bool) -> None:
    """What an apply refuses: the local lab's whole check on a step it plays, else the cluster's own rules."""
    if local:
        check_object(obj)
    else:
        validate(obj)


def _target(exercise: Exercise, ref: Ref) -> dict | None:
    """The object a patch step changes, as the exercise's manifests make it."""
    for step in exercise.steps:
        for path in step.manifests:
            try:
                found = [obj for obj in load_manifest_file(path) if ref_of(obj) == ref]
            except LabError:
                continue   # reported as that step's problem
            if found:
                return found[-1]
    return None


def _shown(exercise: Exercise, path: Path) -> str:
    try:
        return path.relative_to(exercise.folder).as_posix()
    except ValueError:
        return path.name



def run(root: Path = EXERCISES_DIR) -> int:
    """Print a line per exercise and one per problem (and per thing left unchecked); 1 if any problem."""
    reports = list(check_catalogue(root))
    for report in reports:
        state = f"{len(report.problems)} problem(s)" if report.problems else f"ok ({report.steps} steps)"
        ui.plain(f"{report.name}: {state}")
        for problem in report.problems:
            ui.plain(f"  problem: {report.name}: {problem}")
        for note in report.notes:
            ui.plain(f"  not checked: {report.name}: {note}")
    problems = sum(len(r.problems) for r in reports)
    exercises = sum(r.name != CATALOGUE_FILE for r in reports)
    ui.plain(f"{exercises} exercise(s), {problems} problem(s)")
    return 1 if problems else 0
