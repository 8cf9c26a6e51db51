"""Positional arguments that may be left out (`invoke get vs` lists, `invoke get vs NAME` shows one).

Invoke has none: it gives a positional argument the next word only while the argument is still
None, and refuses a task whose positional arguments are still None when its words end. So a
left-out optional one is given "" just before that last check (Invoke's parser, one method).
"""

import subprocess
import sys

from invoke.parser.parser import ParseMachine

OPTIONAL: set[tuple[str, str]] = set()     # (task, argument)
_complete_context = ParseMachine.complete_context


def optional(task: str, *arguments: str) -> None:
    OPTIONAL.update((task, argument) for argument in arguments)


def help_asked(task: str, positional: object) -> bool:
    """Invoke gives a task's positional argument the next word, even `--help`: show the help then."""
    if positional not in ("-h", "--help"):
        return False
    subprocess.run([sys.executable, "-m", "invoke", "--help", task], check=False)
    return True


def _complete_with_optionals_filled(machine: ParseMachine) -> None:
    if machine.context:
        for argument in machine.context.positional_args:
            if (machine.context.name, argument.name) in OPTIONAL and argument.value is None:
                argument.value = ""
    _complete_context(machine)


# A private patch of Invoke's parser (invoke is capped below 4 for it): mypy rightly flags assigning a method.
ParseMachine.complete_context = _complete_with_optionals_filled  # type: ignore[method-assign,assignment]
