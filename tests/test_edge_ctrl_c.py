"""A Ctrl-C before a task has started (Invoke still reading the command line) says "interrupted"
and exits 130, like one during the task; Invoke alone would exit 1 without a word."""

import signal

import pytest

from lab import ui
from lab.edge import EXIT_INTERRUPTED, Failed, catch_early_ctrl_c, guarded, interrupted_before_the_command


@pytest.fixture
def sigint():
    before = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, before)


def test_a_ctrl_c_before_the_task_is_one_line_and_130(sigint):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    catch_early_ctrl_c()
    assert signal.getsignal(signal.SIGINT) is interrupted_before_the_command
    with ui.err_console.capture() as said, pytest.raises(Failed) as ended:
        signal.raise_signal(signal.SIGINT)
    assert ended.value.code == EXIT_INTERRUPTED and said.get().strip() == "error: interrupted"


def test_once_the_task_starts_a_ctrl_c_is_the_tasks_own(sigint):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    catch_early_ctrl_c()

    def task() -> None:
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.raise_signal(signal.SIGINT)

    with ui.err_console.capture() as said, pytest.raises(Failed) as ended:
        guarded(task)()
    assert ended.value.code == EXIT_INTERRUPTED and said.get().strip() == "error: interrupted"


def test_an_ignored_sigint_stays_ignored(sigint):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    catch_early_ctrl_c()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
