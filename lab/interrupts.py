"""Holding a Ctrl-C over steps that must happen together. Its own module: the backends use it, and
they import nothing of the CLI's edge (lab/edge.py)."""

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def ctrl_c_deferred() -> Iterator[None]:
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
