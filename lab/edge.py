"""The one place errors become exit codes (copier / pre-commit style).

- LabError: one red line with the fix, exit 1.
- Ctrl-C: exit 130 (whatever was half-started has cleaned up on the way out).
- Anything else: a short message, the traceback in .lab/logs/, exit 1.
"""

import contextlib
import functools
import signal
import threading
import time
import traceback

from lab import ui
from lab.config import lab_paths
from lab.errors import LabError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class Failed(SystemExit):
    """Raised to leave with a status; tasks.py turns it into invoke's Exit."""


def guarded(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except LabError as e:
            ui.error(str(e))
            raise Failed(EXIT_ERROR) from None
        except KeyboardInterrupt:
            ui.error("interrupted")
            raise Failed(EXIT_INTERRUPTED) from None
        except (SystemExit, Failed):
            raise
        except Exception as e:  # noqa: BLE001 - the edge: nothing unexpected may escape as a traceback
            log = _save_traceback()
            ui.error(f"unexpected {type(e).__name__}: {e} (details in {log})")
            raise Failed(EXIT_ERROR) from None
    return wrapper


def _save_traceback() -> str:
    logs = lab_paths().logs_dir
    try:
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"error-{time.strftime('%Y%m%d-%H%M%S')}.log"
        path.write_text(traceback.format_exc())
        return str(path)
    except OSError:
        return "no log: .lab/logs is not writable"


@contextlib.contextmanager
def ctrl_c_deferred():
    """Hold a Ctrl-C until the block is done: for the few steps that must happen all together
    (routes pushed and objects saved), so an interrupt never leaves one without the other."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
