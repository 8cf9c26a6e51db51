"""The one way the lab waits for something: ask again until it holds or time runs out.

Light on purpose (the supervisor imports it). A check may raise to stop waiting early
(a process exited, Envoy rejected the config): that error is the answer.
"""

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def poll(check: Callable[[], T], timeout: float, interval: float = 0.05) -> T | None:
    """check()'s first truthy answer, asked every `interval` seconds; None once `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
