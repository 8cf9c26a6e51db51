"""The one place errors become exit codes (copier / pre-commit style).

- LabError: one red line with the fix, exit 1.
- Ctrl-C: exit 130 (whatever was half-started has cleaned up on the way out).
- Anything else: a short message, the traceback in .lab/logs/ (with the lab's version, Python and
  platform), exit 3 — a bug of the lab, not a learner's mistake (pre-commit's convention).
"""

import functools
import os
import platform
import re
import signal
import sys
import threading
import time
import traceback

from rich.markup import escape

from lab import ui
from lab.config import lab_paths
from lab.errors import LabError

EXIT_ERROR = 1
EXIT_UNEXPECTED = 3
EXIT_INTERRUPTED = 130


class Failed(SystemExit):
    """Raised to leave with a status; tasks.py turns it into invoke's Exit."""


def interrupted_before_the_command(signum: int, frame: object) -> None:
    """SIGINT while Invoke still reads the command line: nothing has started, and Invoke itself
    would exit 1 without a word. Said and ended as every Ctrl-C is (tasks.py installs this)."""
    ui.error("interrupted")
    raise Failed(EXIT_INTERRUPTED)


def catch_early_ctrl_c() -> None:
    """Until a task starts (guarded), a Ctrl-C ends the command with its line and 130; an ignored
    SIGINT (nohup, a parent that ignores it) stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupted_before_the_command)


def guarded(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is interrupted_before_the_command:
            signal.signal(signal.SIGINT, signal.default_int_handler)   # from here Ctrl-C is KeyboardInterrupt
        try:
            return function(*args, **kwargs)
        except LabError as e:
            ui.error(shown(str(e)))
            raise Failed(EXIT_ERROR) from None
        except KeyboardInterrupt:
            ui.error("interrupted")
            raise Failed(EXIT_INTERRUPTED) from None
        except (SystemExit, Failed):
            raise
        except Exception as e:  # noqa: BLE001 - the edge: nothing unexpected may escape as a traceback
            log = _save_traceback()
            ui.error(shown(f"unexpected {type(e).__name__}: {str(e)[:200]} — a bug in canary-lab, not your doing; "
                           f"details in {log}"))
            raise Failed(EXIT_UNEXPECTED) from None
    return wrapper


# C0 and C1 controls and the Unicode line and paragraph separators: each breaks a line somewhere
# (str.splitlines splits on \x1c-\x1e, \x85, \u2028 and \u2029 too)
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(text: str) -> str:
    """A message as one line of plain text: a learner's own input inside it (a key with a line
    break, a name like `[red]`) can neither break the line nor be read as rich markup."""
    return escape(CONTROL.sub(lambda m: repr(m.group())[1:-1], text))


def _save_traceback() -> str:
    logs = lab_paths().logs_dir
    try:
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # logs may hold paths and config
        with os.fdopen(fd, "w") as f:
            f.write(f"{_versions()}\n\n{traceback.format_exc()}")
        return str(path)
    except OSError:
        return "no log: .lab/logs is not writable"


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        lab = version("canary-lab")
    except PackageNotFoundError:
        lab = "unknown (not installed)"
    return (f"canary-lab {lab}; Python {platform.python_version()} ({sys.executable}); "
            f"{platform.platform()} {platform.machine()}; argv {sys.argv[1:]}")


