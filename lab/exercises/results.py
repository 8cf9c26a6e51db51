"""A check's result as the learner reads it, the same in the walkthrough and `invoke check`."""

from rich.markup import escape

from lab import ui
from lab.exercises.check_result import CheckResult


def show_result(result: CheckResult, with_hint: bool = True) -> None:
    """The details, the verdict and, after a failure with a known cause, the hint for it."""
    for detail in result.details:
        ui.console.print(detail)
    if result.passed:
        ui.info(f"[green]✓ passed:[/] {result.message}")
        return
    ui.info(f"[red]✗ not yet:[/] {result.message}")
    if not with_hint:
        return
    if result.hint:
        label = f" ({result.diagnosis})" if result.diagnosis else ""
        ui.info(f"[yellow]hint{escape(label)}:[/] {escape(result.hint)}")
    elif result.diagnosis:
        ui.info(f"[yellow]diagnosis:[/] {escape(result.diagnosis)}")
