"""The last check's result (the walkthrough's or `invoke check`'s), kept in the lab's folder so
that `invoke dashboard` can show it beside the step: exercise, step, passed or not, the message,
the diagnosis, and when."""

import time
from typing import Any

from lab.config import Paths, lab_paths
from lab.errors import LabError
from lab.exercises.check_result import CheckResult
from lab.files import read_json, write_json

LAST_CHECK_FILE = "last-check.json"


def recorded(exercise: str, step: str, result: CheckResult) -> CheckResult:
    """Keep `result` as the last check of the lab that is up here, and return it (a hook where a
    check's result is made). Nothing is written where no lab is up, and a write that fails (a full
    disk) costs the dashboard this result, never the check."""
    paths = lab_paths()
    if paths.state_file.exists():
        try:
            write_json(paths.home / LAST_CHECK_FILE,
                       {"exercise": exercise, "step": step, "passed": result.passed, "message": result.message,
                        "diagnosis": result.diagnosis, "at": time.time()})
        except LabError:
            pass
    return result


def last_check(paths: Paths) -> dict[str, Any] | None:
    """The last recorded check, or None (none yet, or a file that is not the lab's)."""
    try:
        found = read_json(paths.home / LAST_CHECK_FILE)
    except LabError:
        return None
    return found if isinstance(found, dict) else None
