"""Hints that fit: after a failure with a known cause, the step's own hint for that cause (in its
terms: a Helm step's values) comes first, else the diagnosis's general one; then the step's hints."""

from lab.exercises.catalogue import load_exercise
from lab.exercises.checks import CheckResult
from lab.exercises.hints import Hints


def test_a_steps_own_hint_for_the_diagnosis_comes_first_then_its_hints():
    step = load_exercise("cross-namespace").step("canary-10")
    hints = Hints()
    hints.failed(step, CheckResult(False, "…", diagnosis="header-route-missing", hint="the general one"))
    first = hints.next(step)
    assert "--reuse-values" in first and "the general one" not in first and "header-route-missing" in first
    assert step.hints[0].split("`")[0] in hints.next(step)


def test_without_a_step_hint_for_it_the_diagnosis_hint_comes_first():
    step = load_exercise("canary").step("shift-20")
    hints = Hints()
    hints.failed(step, CheckResult(False, "…", diagnosis="weights-swapped", hint="the general one"))
    assert "the general one" in hints.next(step)
