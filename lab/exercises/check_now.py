"""`invoke check`: one step's check against the lab as it is now (what Killercoda's verify
script is to a scenario). It never prompts and applies nothing of the learner's; it marks
progress only when the check passes. Like `invoke exercise`, it first restores what earlier
steps made when the lab lacks it (after `down` and `up`): both commands agree on the lab a
step starts from, so the check never blames the learner for objects a new lab never had.
"""

from lab import ui
from lab.backends.base import Backend
from lab.config import Paths
from lab.errors import LabError
from lab.exercises.catalogue import Exercise, Step, exercise_names, load_exercise
from lab.exercises.check_result import CheckResult
from lab.exercises.checks import run_check
from lab.exercises.results import show_result
from lab.exercises.tracks import chosen_track_exercise
from lab.exercises.walkthrough import Walkthrough
from lab.exercises.working_copy import not_applied, work_file
from lab.state import Progress, wait_for_other_commands

CHECKED_KINDS = ("task", "check")


def chosen_exercise(progress: Progress, name: str) -> Exercise:
    """The named exercise, else the one the learner last played or checked."""
    if not name:
        name = progress.current()
        started = [n for n in exercise_names() if progress.done(n) or progress.skipped(n)]
        if not name and len(started) == 1:
            name = started[0]
        if not name:
            raise LabError("no exercise is under way, so there is no step to check",
                           "name one, e.g. `invoke check canary`, or start it with `invoke exercise canary`")
    else:
        name = chosen_track_exercise(name, "", progress)   # in the track it was last played in
    return load_exercise(name)


def chosen_step(exercise: Exercise, progress: Progress, name: str, backend_name: str) -> Step:
    """The named step, else the first one with a check that is neither done nor skipped and
    that this lab can run (the walkthrough skips the others here)."""
    if name:
        step = exercise.step(name)
        if step.kind not in CHECKED_KINDS:
            raise LabError(f"step {name} of {exercise.name} has nothing to check (it is a {step.kind} step)",
                           f"steps with a check: {', '.join(s.name for s in _checked(exercise))}")
        return step
    finished = set(progress.done(exercise.name)) | set(progress.skipped(exercise.name))
    for step in _checked(exercise):
        if step.name not in finished and step.runs_on(backend_name):
            return step
    last = _checked(exercise)[-1].name
    raise LabError(f"every step of {exercise.name} is done or skipped",
                   f"name the step to check it again, e.g. `invoke check {exercise.name} {last}`")


def _checked(exercise: Exercise) -> list[Step]:
    return [s for s in exercise.steps if s.kind in CHECKED_KINDS]


def check_step(exercise: Exercise, step: Step, backend: Backend, paths: Paths) -> CheckResult:
    """Run the check, show it, and mark the step done if it passed; a failure is a LabError
    (exit 1) after the result, its diagnosis and, if so, the slip of an unapplied working copy."""
    progress = Progress(paths)
    progress.mark_current(exercise.name)
    if not step.runs_on(backend.name):
        raise LabError(f"step {step.name} needs {' or '.join(step.backends)}; the {backend.name} lab cannot check it",
                       f"`invoke exercise {exercise.name}` skips it for you")
    ui.console.rule(f"{exercise.name}: {step.name}", style="cyan")
    wait_for_other_commands(paths)
    Walkthrough(exercise, backend, paths, yes=True).restore(exercise.steps.index(step), force=False)
    with ui.step("checking what the gateway serves, then live traffic"):
        result = run_check(exercise, step, backend, tuple(progress.skipped(exercise.name)))
    show_result(result)
    if result.passed:
        progress.mark_done(exercise.name, step.name)
        return result
    slip = not_applied(step, work_file(paths, exercise, step) if step.workfile else None, backend)
    if slip:
        ui.info(slip)
    raise LabError(f"step {step.name} of {exercise.name} does not pass yet",
                   f"fix it and run `invoke check` again; `invoke exercise {exercise.name}` has hints "
                   "and the solution")
