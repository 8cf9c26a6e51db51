"""A running local lab for an exercise's tests, and the lab as the learner finds one of its steps:
every step before it done, earlier tasks replayed from their solutions (the walkthrough's restore)."""

import os
from collections.abc import Iterator

import pytest

from lab.backends.select import current_backend
from lab.config import lab_paths
from lab.exercises.catalogue import Exercise
from lab.exercises.checks import CheckResult, run_check
from lab.exercises.walkthrough import Walkthrough
from tests.lab_process import Lab, new_lab


def exercise_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A local lab up for a test module (yield from it in a module-scoped fixture), the CLI and the
    lab's own calls pointed at it."""
    lab = new_lab(tmp_path_factory.mktemp("exercise"))
    lab.invoke("up", "--provider", "local")
    os.environ["CANARY_LAB_ROOT"] = str(lab.root)
    yield lab
    del os.environ["CANARY_LAB_ROOT"]
    lab.cleanup()


def as_found(exercise: Exercise, step_name: str) -> None:
    paths = lab_paths()
    walkthrough = Walkthrough(exercise, current_backend(paths), paths, yes=True)
    index = [s.name for s in exercise.steps].index(step_name)
    walkthrough.reset()            # no progress, no working copies: earlier tasks replay their solutions
    for earlier in exercise.steps[:index]:
        walkthrough.progress.mark_done(exercise.name, earlier.name)
    walkthrough.restore(index)


def check(exercise: Exercise, step_name: str) -> CheckResult:
    return run_check(exercise, exercise.step(step_name), current_backend(lab_paths()))


def applied(lab: Lab, exercise: Exercise, step_name: str, text: str) -> tuple[str, CheckResult]:
    """The lab as the step finds it, the learner's `text` applied: the apply's output (one line of
    words) and the step's check."""
    as_found(exercise, step_name)
    out = lab.invoke("apply", "-", input=text).stdout
    return " ".join(out.split()), check(exercise, step_name)


def solution(exercise: Exercise, name: str) -> str:
    return (exercise.folder / "solutions" / name).read_text()
