"""Hints on request, one at a time and in turn. After a failed check with a known cause
(CheckResult.diagnosis), the hint for that cause comes first, then the step's own hints."""

from rich.markup import escape

from lab.exercises.catalogue import Step
from lab.exercises.check_result import CheckResult


class Hints:
    def __init__(self):
        self.shown: dict[str, int] = {}               # by step: how many were shown since the last cause
        self.failure: dict[str, CheckResult] = {}     # by step: the last failed check

    def failed(self, step: Step, result: CheckResult) -> None:
        self.failure[step.name] = result
        if result.hint:
            self.shown[step.name] = 0   # a new cause: its hint is the next one shown

    def next(self, step: Step) -> str:
        """The next hint as a line to show (rich markup)."""
        failure = self.failure.get(step.name)
        hint = dict(step.hints_for).get(failure.diagnosis, failure.hint) if failure and failure.diagnosis else ""
        fitting = [hint] if hint else []
        hints = fitting + list(step.hints)
        if not hints:
            return "No hint for this step; `show solution` shows the answer."
        index = self.shown.get(step.name, 0) % len(hints)
        self.shown[step.name] = index + 1
        about = f" (about what the check saw: {failure.diagnosis})" if failure and fitting and index == 0 else ""
        return f"[yellow]hint {index + 1}/{len(hints)}{escape(about)}:[/] {escape(hints[index])}"
