"""Commands in step texts paste whole: the lab never breaks one across lines, however narrow
the terminal, and step texts put commands where that holds (fenced blocks, not prose)."""

import re

import pytest

from lab import ui
from lab.exercises.catalogue import exercise_names, load_exercise

COMMAND_IN_PROSE = re.compile(r"(?<!`)`((?:invoke|curl|kubectl|helm|export) [^`]{24,})`(?!`)")


@pytest.fixture
def narrow_terminal():
    # a terminal 40 columns wide (off a terminal, the lab wraps nothing: a pipe has no width)
    width, forced = ui.console.width, ui.console._force_terminal
    ui.console.width, ui.console._force_terminal = 40, True
    yield
    ui.console.width, ui.console._force_terminal = width, forced


def test_a_fenced_command_is_printed_on_one_line_on_a_narrow_terminal(narrow_terminal):
    long_command = "invoke patch VirtualService app-example --namespace app-example --patch-file work/p.yaml"
    with ui.console.capture() as captured:
        ui.markdown(f"Words that wrap as prose usually do, at spaces, on a narrow screen.\n\n"
                    f"```\n{long_command}\n```\n\nAnd after it.")
    lines = captured.get().splitlines()
    assert f"  {long_command}" in lines
    assert max(len(line) for line in lines if long_command not in line) <= 40   # prose still wraps


def test_working_copy_commands_are_printed_whole(narrow_terminal):
    command = "invoke helm exercises/cross-namespace/chart/traffic-manager --release traffic-manager"
    with ui.console.capture() as captured:
        ui.command(command)
    assert captured.get() == f"  {command}\n"


@pytest.mark.parametrize("name", exercise_names())
def test_no_step_text_puts_a_long_command_inside_a_paragraph(name):
    for step in load_exercise(name).steps:
        found = COMMAND_IN_PROSE.findall(step.text)
        assert not found, f"{name}/{step.name}: put {found[0]!r} in a fenced block, so it pastes whole"
