"""One-line mutants of a Python module: the small bugs a test suite should notice.

Each mutant changes one thing — a flipped comparison, `and` for `or`, a dropped clause, a
negated condition, an off-by-one, a removed statement — in a copy of the module's syntax tree,
and is written back as source with `ast.unparse` (comments go; behaviour is the original's but
for the one change). What no test could tell from a typo is left alone: docstrings, strings,
type annotations, assertions, and what a `raise` says (raising at all is mutated: it is removed).
A mutant's key (module, function, change, occurrence) stays the same when lines move, so a list
of equivalent mutants keeps its meaning as the file changes.
"""

import ast
import copy
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
BINARY_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
}
NAME_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any"}
SYMBOLS: dict[type[ast.AST], str] = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in",
    ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
    ast.Div: "/", ast.FloorDiv: "//", ast.And: "and", ast.Or: "or",
}
# Statements whose removal is a bug a learner could meet (a call not made, a value not kept, an
# error not raised); removing an assignment to a plain name only makes a NameError.
# Off by one matters for counts, indexes and percentages; a limit of 1024 or a timeout of 300 s
# is as right at 1025 or 301, and no test should pin it.
SMALL = 100
REMOVABLE = (ast.Expr, ast.AugAssign, ast.Raise, ast.Continue, ast.Break)


@dataclass(frozen=True)
class Mutant:
    path: str     # the module, relative to the project
    line: int
    scope: str    # the function (or class.function) it is in; "<module>" at top level
    change: str   # what it does, e.g. "`<` → `<=`"
    key: str      # path:scope:change#occurrence — stable when lines move
    source: str   # the whole mutated module


@dataclass(frozen=True)
class _Site:
    line: int
    scope: str
    change: str


class _Mutator(ast.NodeTransformer):
    """Walks a module in a fixed order; counts mutation sites, and applies the one numbered `target`."""

    def __init__(self, target: int = -1) -> None:
        self.target = target
        self.sites: list[_Site] = []
        self._scope: list[str] = []

    # -- where not to look -------------------------------------------------------------------
    def _skip(self, node: ast.AST) -> ast.AST:
        return node

    visit_JoinedStr = _skip
    visit_Assert = _skip

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return node   # its annotation

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return node
        return self._condition(node)

    def visit_While(self, node: ast.While) -> ast.AST:
        return self._condition(node)

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.AST:
        self._scope.append(node.name)
        node.body = self._body(node.body)
        if not isinstance(node, ast.ClassDef):
            node.args.defaults = [self.visit(d) for d in node.args.defaults]
        self._scope.pop()
        return node

    visit_FunctionDef = _scoped
    visit_AsyncFunctionDef = _scoped
    visit_ClassDef = _scoped

    def visit_Module(self, node: ast.Module) -> ast.AST:
        # Top-level statements are imports and settings: only what is inside functions and classes.
        node.body = [self.visit(s) if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) else s
                     for s in node.body]
        return node

    # -- sites ---------------------------------------------------------------------------------
    def _site(self, node: ast.AST, change: str) -> bool:
        """Record a site; True when it is the one to apply."""
        self.sites.append(_Site(getattr(node, "lineno", 0), ".".join(self._scope) or "<module>", change))
        return len(self.sites) - 1 == self.target

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        result: list[ast.stmt] = []
        for index, statement in enumerate(body):
            docstring = index == 0 and isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
                and isinstance(statement.value.value, str)
            if docstring:
                result.append(statement)
                continue
            if isinstance(statement, REMOVABLE) and self._site(statement, f"removed `{_first_line(statement)}`"):
                result.append(ast.copy_location(ast.Pass(), statement))
                continue
            if isinstance(statement, ast.Raise):
                result.append(statement)   # what it says is not mutated
                continue
            result.append(self.visit(statement))
        return result

    def _condition(self, node: ast.If | ast.While) -> ast.AST:
        if not isinstance(node.test, ast.Compare | ast.BoolOp | ast.UnaryOp) and self._site(node, "negated condition"):
            node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
        else:
            node.test = self.visit(node.test)
        node.body = self._body(node.body)
        node.orelse = self._body(node.orelse)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            swap = COMPARE_SWAPS.get(type(op))
            if swap and self._site(node, f"`{SYMBOLS[type(op)]}` → `{SYMBOLS[swap]}`"):
                node.ops[i] = swap()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        other: type[ast.boolop] = ast.Or if isinstance(node.op, ast.And) else ast.And
        if self._site(node, f"`{SYMBOLS[type(node.op)]}` → `{SYMBOLS[other]}`"):
            return ast.copy_location(ast.BoolOp(op=other(), values=node.values), node)
        for i in range(len(node.values)):
            if self._site(node, f"dropped clause {i + 1} of `{SYMBOLS[type(node.op)]}`"):
                rest = node.values[:i] + node.values[i + 1:]
                return rest[0] if len(rest) == 1 else ast.copy_location(ast.BoolOp(op=node.op, values=rest), node)
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._site(node, "dropped `not`"):
            return node.operand
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        swap = BINARY_SWAPS.get(type(node.op))
        if swap and self._site(node, f"`{SYMBOLS[type(node.op)]}` → `{SYMBOLS[swap]}`"):
            node.op = swap()
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool):
            if self._site(node, f"`{node.value}` → `{not node.value}`"):
                return ast.copy_location(ast.Constant(not node.value), node)
        elif isinstance(node.value, int) and abs(node.value) <= SMALL \
                and self._site(node, f"`{node.value}` → `{node.value + 1}`"):
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in NAME_SWAPS:
            swap = NAME_SWAPS[node.func.id]
            if self._site(node, f"`{node.func.id}` → `{swap}`"):
                node.func = ast.copy_location(ast.Name(id=swap, ctx=ast.Load()), node.func)
        return node


def _first_line(statement: ast.stmt) -> str:
    text = ast.unparse(statement).splitlines()[0]
    return text if len(text) <= 60 else text[:57] + "..."


def site_lines(path: Path) -> list[int]:
    """The line of each mutation site of one module, in the order mutants_of numbers them: choosing
    sites (a sample, the changed lines) before making their mutants saves writing out the others."""
    counter = _Mutator()
    counter.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return [site.line for site in counter.sites]


def mutants_of(path: Path, root: Path, chosen: Collection[int] | None = None) -> Iterator[Mutant]:
    """Every mutant of one module (or those of the `chosen` site numbers), in source order of its sites."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    counter = _Mutator()
    counter.visit(copy.deepcopy(tree))
    relative = path.relative_to(root).as_posix()
    seen: Counter[tuple[str, str]] = Counter()
    for target, site in enumerate(counter.sites):
        occurrence = seen[site.scope, site.change]
        seen[site.scope, site.change] += 1
        if chosen is not None and target not in chosen:
            continue
        mutated = _Mutator(target).visit(copy.deepcopy(tree))
        yield Mutant(path=relative, line=site.line, scope=site.scope, change=site.change,
                     key=f"{relative}:{site.scope}:{site.change}#{occurrence}",
                     source=ast.unparse(ast.fix_missing_locations(mutated)) + "\n")
