"""Number options as the lab reads them: Invoke casts a flag by its default's type and, on `--port
abc`, prints its parser's 22-line traceback. The tasks take numbers as text and read them here,
inside the lab's one error handler (lab/edge.py): one line with the fix, exit 1."""

import math

from lab.errors import LabError


def whole(flag: str, text: object, low: int, high: int, example: int) -> int:
    """`text` as a whole number from `low` to `high`."""
    try:
        value = int(str(text).strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise LabError(f"{flag} {text!r} is not a whole number from {low} to {high}", f"e.g. {flag} {example}")
    return value


def decimal(flag: str, text: object, low: float, high: float, example: str) -> float:
    """`text` as a number (a fraction allowed) from `low` to `high`."""
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    if not low <= value <= high:   # NaN compares false: refused too
        raise LabError(f"{flag} {text!r} is not a number from {low:g} to {high:g}", f"e.g. {flag} {example}")
    return value
