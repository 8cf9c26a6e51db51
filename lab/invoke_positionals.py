"""Positional arguments Invoke may leave out: `invoke check`, `invoke check canary`,
`invoke check canary shift-20` are all one task.

Invoke has no optional positional arguments. Its parser asks each context for its unfilled
positional arguments twice: while reading a word (an unfilled one takes the word) and when the
words run out (an unfilled one is an error). An `OptionalPositional` reads as unfilled only to
the first question, so a word fills it when there is one and nothing is refused when there is
none. tests/test_check_command.py runs all four shapes through the real `invoke`.
"""

import sys

from invoke import Task
from invoke.parser import Argument

_PARSER_MODULE = "invoke.parser.parser"


def _parser_is_wrapping_up() -> bool:
    """True when Invoke's parser asks from complete_context (the words have run out)."""
    frame = sys._getframe(2)
    for _ in range(6):   # value <- comprehension <- missing_positional_args <- complete_context
        if frame is None:
            return False
        if frame.f_code.co_name == "complete_context" and frame.f_globals.get("__name__") == _PARSER_MODULE:
            return True
        frame = frame.f_back
    return False


class OptionalPositional(Argument):
    def _value_or_absent(self):
        if self._value is not None:
            return self._value
        return "" if _parser_is_wrapping_up() else None

    value = property(_value_or_absent, Argument.value.fset)


class OptionalPositionalsTask(Task):
    """A Task whose positional arguments may all be left out (they arrive as None)."""

    def get_arguments(self, ignore_unknown_help=None):
        arguments = super().get_arguments(ignore_unknown_help=ignore_unknown_help)
        for argument in arguments:
            if argument.positional:
                argument.__class__ = OptionalPositional
        return arguments
