"""What a check says: passed or not, the message, the details to show, and a known failure's
diagnosis and first hint. Its own module, so that the checks of every kind (lab/exercises/checks.py
and the *_check.py beside it) and whatever records or shows a result import it without each other."""

from dataclasses import dataclass, field

from rich.console import RenderableType


@dataclass
class CheckResult:
    passed: bool
    message: str
    details: list[RenderableType] = field(default_factory=list)
    diagnosis: str = ""     # a known failure's code (e.g. "weights-swapped"); "" when none applies
    hint: str = ""          # the first hint for that failure, shown before the step's own hints
