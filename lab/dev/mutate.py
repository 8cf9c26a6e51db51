"""The mutation runner: does the suite notice a one-line bug in the lab's core?

For each mutant of a target module (lab/dev/mutants.py) the module's covering tests run in a
copy of the project with that one change; a failing or overrunning run kills the mutant, a
passing one lets it survive. The score is killed / (killed + survived); mutants no behaviour can
tell apart from the original are listed with a reason in tests/mutation.yaml and not counted.

    python -m lab.dev.mutate [MODULE ...] [--changed [BASE]] [--jobs N] [--sample N]

`--changed` keeps the mutants on lines the branch changed against BASE (default: main), for a
run before each stop. Each worker has a copy of its own (tests there find the project by their
own path, so a mutant never touches the checkout), and processes a test left behind when it was
stopped are ended by the marker the lab gives them (CANARY_LAB_ROOT / CANARY_LAB_RUN_DIR inside
the copy), never by name.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock

import psutil
import yaml

from lab import ui
from lab.config import PROJECT_DIR
from lab.dev.mutants import Mutant, mutants_of, site_lines

CONFIG = Path("tests/mutation.yaml")
# What a copy leaves out: history, environments, working copies, the lab's own state (but its
# helm, which the suite would otherwise fetch again), caches.
TOP_LEVEL_SKIPPED = {".git", ".venv", "work"}
CACHES = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules"}
MARKERS = ("CANARY_LAB_ROOT", "CANARY_LAB_RUN_DIR")


def _say(text: str) -> None:
    ui.console.print(text, markup=False, soft_wrap=True)   # code in the text is not rich markup


@dataclass
class Outcome:
    mutant: Mutant
    killed: bool
    by: str          # the first failing test, "timeout", or "" when it survived
    seconds: float


@dataclass
class Targets:
    tests: dict[str, list[str]]                        # module → its covering tests (files or node ids)
    equivalents: dict[str, str] = field(default_factory=dict)   # mutant key → why no test can tell
    # test node id → why it is left out (it fails on the unmutated code; each is a bug to fix, not a mutant)
    deselected: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> "Targets":
        data = yaml.safe_load((root / CONFIG).read_text(encoding="utf-8")) or {}
        return cls(tests={str(k): [str(t) for t in v] for k, v in (data.get("targets") or {}).items()},
                   equivalents={str(k): str(v) for k, v in (data.get("equivalents") or {}).items()},
                   deselected={str(k): str(v) for k, v in (data.get("deselected") or {}).items()})

    def pytest_args(self, module: str) -> list[str]:
        """The module's covering tests, less the deselected ones."""
        return [*self.tests[module], *(f"--deselect={node}" for node in self.deselected)]


def changed_lines(root: Path, module: str, base: str) -> set[int]:
    """Lines of `module` that differ from `base` (added or changed), from git's zero-context diff."""
    diff = subprocess.run(["git", "diff", "-U0", base, "--", module], cwd=root, capture_output=True,
                          text=True, check=True).stdout
    lines: set[int] = set()
    for start, count in re.findall(r"^@@ -\S+ \+(\d+)(?:,(\d+))? @@", diff, flags=re.MULTILINE):
        first, length = int(start), int(count) if count else 1
        lines.update(range(first, first + length))
    return lines


def select(root: Path, targets: Targets, modules: list[str], base: str | None, sample: int,
           seed: int) -> list[Mutant]:
    unknown = [m for m in modules if m not in targets.tests]
    if unknown:
        raise SystemExit(f"not a target in {CONFIG}: {', '.join(unknown)} (targets: {', '.join(targets.tests)})")
    sites: list[tuple[str, int]] = []   # (module, site number): the mutants to make, chosen first
    for module in modules or list(targets.tests):
        lines = changed_lines(root, module, base) if base is not None else None
        sites += [(module, i) for i, line in enumerate(site_lines(root / module)) if lines is None or line in lines]
    sampled = bool(sample) and len(sites) > sample
    if sampled:
        sites = random.Random(seed).sample(sites, sample)
    by_module: dict[str, set[int]] = {}
    for module, number in sites:
        by_module.setdefault(module, set()).add(number)
    chosen = [m for module, numbers in by_module.items() for m in mutants_of(root / module, root, numbers)]
    return sorted(chosen, key=lambda m: (m.path, m.line)) if sampled else chosen


def _not_copied(root: Path) -> Callable[[str, list[str]], set[str]]:
    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in CACHES or n.endswith(".egg-info")}
        if Path(folder) == root:
            skipped |= TOP_LEVEL_SKIPPED & set(names)
        if Path(folder) == root / ".lab":
            skipped |= set(names) - {"bin"}
        return skipped
    return ignore


class Worker:
    """A copy of the project where one mutant at a time is tried."""

    def __init__(self, root: Path, scratch: Path, index: int) -> None:
        self.copy = scratch / f"w{index}"
        shutil.copytree(root, self.copy, ignore=_not_copied(root), symlinks=True)
        self.temp = self.copy / ".pytest-tmp"

    def run_tests(self, tests: list[str], timeout: float) -> tuple[int | None, str]:
        """pytest's exit code (None when it overran) and its output."""
        shutil.rmtree(self.temp, ignore_errors=True)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        for marker in MARKERS:
            env.pop(marker, None)
        argv = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                f"--basetemp={self.temp}", *tests]
        process = subprocess.Popen(argv, cwd=self.copy, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=timeout)
            return process.returncode, output
        except subprocess.TimeoutExpired:
            self._stop(process)
            return None, ""
        finally:
            self._end_leftovers()

    def _stop(self, process: subprocess.Popen[str]) -> None:
        """Ctrl-C first, so the suite's own clean-up takes its labs down; then the whole group."""
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()

    def _end_leftovers(self) -> None:
        """Lab processes a stopped test left running: those whose lab marker points into this copy."""
        mine = str(self.copy)
        for process in psutil.process_iter():
            try:
                environ = process.environ()
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            if any(environ.get(marker, "").startswith(mine) for marker in MARKERS):
                try:
                    process.kill()
                except psutil.NoSuchProcess:
                    pass

    def try_mutant(self, mutant: Mutant, tests: list[str], timeout: float) -> Outcome:
        target = self.copy / mutant.path
        original = target.read_text(encoding="utf-8")
        started = time.monotonic()
        try:
            target.write_text(mutant.source, encoding="utf-8")
            code, output = self.run_tests(tests, timeout)
        finally:
            target.write_text(original, encoding="utf-8")
        seconds = time.monotonic() - started
        if code is None:
            return Outcome(mutant, True, "timeout", seconds)
        failed = re.search(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.MULTILINE)
        return Outcome(mutant, code != 0, (failed.group(1) if failed else f"exit {code}") if code else "", seconds)


def run(root: Path, mutants: list[Mutant], targets: Targets, jobs: int, factor: float,
        grace: float = 30.0) -> list[Outcome]:
    scratch = Path(tempfile.mkdtemp(prefix="canary-lab-mutate-"))
    lock = Lock()
    outcomes: list[Outcome] = []
    try:
        workers = [Worker(root, scratch, i) for i in range(max(1, jobs))]
        budgets: dict[str, float] = {}
        for module in sorted({m.path for m in mutants}):
            started = time.monotonic()
            code, output = workers[0].run_tests(targets.pytest_args(module), timeout=3600)
            if code != 0:
                raise SystemExit(f"the tests of {module} fail without any mutant; fix them first:\n{output[-2000:]}")
            clean = time.monotonic() - started
            budgets[module] = factor * clean + grace
            _say(f"{module}: its tests take {clean:.1f}s unmutated")
        free = list(workers)

        def one(mutant: Mutant) -> None:
            with lock:
                worker = free.pop()
            try:
                outcome = worker.try_mutant(mutant, targets.pytest_args(mutant.path), budgets[mutant.path])
            finally:
                with lock:
                    free.append(worker)
            with lock:
                outcomes.append(outcome)
                state = "killed" if outcome.killed else "SURVIVED"
                _say(f"[{len(outcomes)}/{len(mutants)}] {state:8} {mutant.path}:{mutant.line} "
                      f"{mutant.scope}: {mutant.change} ({outcome.seconds:.0f}s)")

        with ThreadPoolExecutor(max_workers=len(workers)) as pool:
            list(pool.map(one, mutants))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return sorted(outcomes, key=lambda o: (o.mutant.path, o.mutant.line))


def summary(outcomes: list[Outcome], targets: Targets) -> tuple[float, list[str]]:
    """The score over mutants that are not listed as equivalent, and the lines to print."""
    counted = [o for o in outcomes if o.mutant.key not in targets.equivalents]
    equivalent = [o for o in outcomes if o.mutant.key in targets.equivalents]
    killed = sum(o.killed for o in counted)
    score = killed / len(counted) if counted else 1.0
    lines = [f"{killed} of {len(counted)} mutants killed: {score:.0%}"
             f" ({len(equivalent)} equivalent, not counted)"]
    survivors = [o for o in counted if not o.killed]
    if survivors:
        lines.append("survivors (a test a user would notice should fail on each, or list it as equivalent):")
        lines += [f"  {o.mutant.path}:{o.mutant.line} {o.mutant.scope}: {o.mutant.change}\n    key: {o.mutant.key}"
                  for o in survivors]
    return score, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.dev.mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules to mutate (default: every target in {CONFIG})")
    parser.add_argument("--changed", nargs="?", const="main", metavar="BASE",
                        help="only lines changed against BASE (default main)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="copies tried at once")
    parser.add_argument("--sample", type=int, default=0, help="try a random sample of this many mutants")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed")
    parser.add_argument("--timeout-factor", type=float, default=3.0,
                        help="a mutant overrunning this many times the clean run's time is killed")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    args = parser.parse_args(argv)
    root = PROJECT_DIR
    targets = Targets.load(root)
    modules = args.modules
    if args.changed and not modules:
        modules = [m for m in targets.tests if changed_lines(root, m, args.changed)]
    mutants = select(root, targets, modules, args.changed, args.sample, args.seed)
    if args.list:
        for m in mutants:
            _say(f"{m.path}:{m.line} {m.scope}: {m.change}")
        return 0
    if not mutants:
        _say("no mutants: nothing changed in the target modules")
        return 0
    outcomes = run(root, mutants, targets, args.jobs, args.timeout_factor)
    score, lines = summary(outcomes, targets)
    _say("\n".join(lines))
    out = root / ".lab" / "mutation" / "last.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([{"key": o.mutant.key, "line": o.mutant.line, "killed": o.killed, "by": o.by,
                                "seconds": round(o.seconds, 1)} for o in outcomes], indent=1))
    return 0 if all(o.killed or o.mutant.key in targets.equivalents for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
