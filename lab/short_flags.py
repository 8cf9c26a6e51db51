"""kubectl's short flags in every task: -n is --namespace wherever a task has one and never anything
else, -A is --all-namespaces, -f --file (logs: --follow), -o --output.

Invoke gives each argument the first letter of its name that no earlier argument took, in the
order of the signature, so `logs NAME` had -n for the name. Tasks made with `KubectlTask`
(`@task(klass=KubectlTask)`) keep Invoke's letters, except that kubectl's letters go to the
arguments kubectl gives them to, and -n to no other: every other short flag stays what it was.
"""

from invoke import Argument, Task

KUBECTL_LETTERS = {"namespace": "n", "all_namespaces": "A", "file": "f", "follow": "f", "output": "o"}


class KubectlTask(Task):
    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        arguments: list[Argument] = super().get_arguments(ignore_unknown_help)
        owners = {letter: _python_name(arg) for arg in arguments
                  if (letter := KUBECTL_LETTERS.get(_python_name(arg)))}
        owners.setdefault("n", "")   # -n is the namespace's even where there is none: never a name
        for arg in arguments:
            own = KUBECTL_LETTERS.get(_python_name(arg))
            kept = [n for n in arg.nicknames if owners.get(n, _python_name(arg)) == _python_name(arg)]
            arg.names = (arg.names[0], *([own] if own else kept[:1]))
        return arguments


def _python_name(arg: Argument) -> str:
    """all_namespaces for --all-namespaces (Invoke keeps the Python name only when it differs)."""
    return str(arg.attr_name or arg.names[0])
