"""The import contract of lab/: no import cycles (imports inside functions and under TYPE_CHECKING
count: a cycle hidden in a function is a cycle still), the backends import nothing of the CLI,
nothing above the backends asks which backend it has, and a function-level import is one of the
few listed here with its reason. Read from the source with `ast`, so nothing is imported to check."""

import ast
import re
from pathlib import Path

from lab.config import PROJECT_DIR

LAB = PROJECT_DIR / "lab"
BACKENDS = "lab.backends"

# Function-level imports that stay, each with its reason. Any other import inside a function fails.
LOADED_WHEN_NEEDED = {
    # The CLI's dispatcher: each command imports what it alone needs, so `invoke` (every task goes
    # through lab.commands) starts in about 0.4 s, not the 1 s and more of importing every command's
    # modules (aiohttp, rich's live views, the catalogue, the cluster backend's kubernetes client).
    "lab.commands": "*",
    # The kubernetes client takes about 0.4 s to import, and the local lab never needs it.
    "lab.backends.select": {"lab.backends.cluster.backend"},
    # cryptography takes about 40 ms to import, and only the local lab's `up` makes certificates.
    "lab.backends.local.backend": {"lab.certs"},
}
CONCRETE_BACKENDS = ("LocalBackend", "ClusterBackend")
CLI = ("lab.edge", "lab.commands")


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(LAB.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The lab module an import of `name` loads (`lab.ui` for `from lab import ui`), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """(lab module imported, line, inside a function) for every import in the module's source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parents = package.split(".")[:len(package.split(".")) - child.level + 1]
                    base = ".".join([*parents, base] if base else parents)
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                         for alias in child.names]
            for name in names:
                target = _resolve(name)
                if target and target != module:
                    found.append((target, child.lineno, in_function))
            visit(child, inside)

    visit(ast.parse(path.read_text()), False)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle as the modules along it (the first again at the end), or [] when none."""
    state: dict[str, str] = {}   # "open" while on the current path, "done" after
    path: list[str] = []

    def walk(node: str) -> list[str]:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return []

    for start in sorted(edges):
        if start not in state and (cycle := walk(start)):
            return cycle
    return []


def test_the_cycle_finder_names_a_cycle_and_finds_none_in_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_lab_has_no_import_cycles():
    edges = {module: {target for target, _, _ in found} for module, found in GRAPH.items()}
    cycle = find_cycle(edges)
    assert not cycle, "import cycle: " + " → ".join(cycle)


def test_every_function_level_import_is_listed_with_its_reason():
    unlisted = [f"{module}:{line} imports {target}"
                for module, found in GRAPH.items() for target, line, in_function in found
                if in_function and LOADED_WHEN_NEEDED.get(module) != "*"
                and target not in LOADED_WHEN_NEEDED.get(module, set())]
    assert not unlisted, ("imports inside functions hide import cycles: import at the top of the module, or "
                          "list it in LOADED_WHEN_NEEDED with the reason:\n" + "\n".join(unlisted))


def test_the_listed_function_level_imports_are_still_there():
    """A reason for an import that no longer exists is a reason nobody reads: drop it."""
    for module, allowed in LOADED_WHEN_NEEDED.items():
        in_functions = {target for target, _, in_function in GRAPH[module] if in_function}
        assert allowed == "*" or allowed <= in_functions, (module, set(allowed) - in_functions)


def test_the_backends_import_nothing_of_the_cli():
    """The CLI's edge (error handling, exit codes) and its commands are above the backends."""
    wrong = [f"{module}:{line} imports {target}" for module, found in GRAPH.items() if module.startswith(BACKENDS)
             for target, line, _ in found if target in CLI]
    assert not wrong, wrong


def test_nothing_above_the_backends_asks_which_backend_it_has():
    """Code above lab/backends/ talks to a Backend (and its capability protocols), never to a
    concrete one: `isinstance(backend, ClusterBackend)` is a verb missing from the interface."""
    asking = re.compile(r"isinstance\([^)]*\b(" + "|".join(CONCRETE_BACKENDS) + r")\b")
    wrong = [f"{module}:{number}: {line.strip()}" for module, path in MODULES.items()
             if not module.startswith(BACKENDS)
             for number, line in enumerate(path.read_text().splitlines(), 1) if asking.search(line)]
    assert not wrong, wrong
