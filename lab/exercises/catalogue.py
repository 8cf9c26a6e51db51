"""The exercise catalogue: one folder per exercise under exercises/, read as data.

An exercise is exercise.yaml (title, backends, how to tell apps apart, ordered
named steps) plus the Markdown, manifests and solutions it names. No Python
per exercise: adding one is adding a folder.
"""

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lab.config import EXERCISES_DIR
from lab.errors import LabError
from lab.manifests import Ref

STEP_KINDS = ("explain", "apply", "helm", "task", "check")
STEP_KEYS = {"name", "kind", "text", "manifests", "workfile", "hints", "solution", "check", "backends", "patch",
             "helm", "values"}
EXERCISE_KEYS = {"title", "summary", "backends", "request", "destinations", "steps", "apps"}


@dataclass(frozen=True)
class Step:
    name: str
    kind: str
    text: str = ""                           # Markdown, already read
    manifests: tuple[Path, ...] = ()         # kind apply
    workfile: Path | None = None             # kind task: the file the learner edits (a copy of this)
    hints: tuple[str, ...] = ()
    solution: Path | None = None
    check: dict | list = field(default_factory=dict, hash=False)   # one check, or a list that must all pass
    backends: tuple[str, ...] = ()           # empty: every backend of the exercise
    patch: Ref | None = None                 # kind task: the solution is a JSON patch of this object
    helm: "HelmRelease | None" = None        # kind helm, or a task whose solution is a values file
    values: tuple[Path, ...] = ()            # kind helm: values files


@dataclass(frozen=True)
class HelmRelease:
    chart: Path
    release: str
    namespace: str


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    summary: str
    folder: Path
    backends: tuple[str, ...]
    request: dict = field(hash=False)
    destinations: dict = field(hash=False)
    steps: tuple[Step, ...] = ()

    @property
    def needs_helm(self) -> bool:
        """It renders a Helm chart (a helm step, or a task whose working copy is a values file)."""
        return any(step.helm for step in self.steps)

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        names = [s.name for s in self.steps]
        raise LabError(f"exercise {self.name} has no step {name!r}",
                       f"steps are: {', '.join(names)}{_suggest(name, names)}")


def exercise_names(root: Path = EXERCISES_DIR) -> list[str]:
    return sorted(p.parent.name for p in root.glob("*/exercise.yaml"))


def load_exercise(name: str, root: Path = EXERCISES_DIR) -> Exercise:
    folder = root / name
    spec_file = folder / "exercise.yaml"
    if not spec_file.is_file():
        names = exercise_names(root)
        raise LabError(f"no exercise named {name!r}{_suggest(name, names).replace(';', ' —')}",
                       f"`invoke exercise --list` shows them all: {', '.join(names)}")
    try:
        spec = yaml.safe_load(spec_file.read_text()) or {}
    except yaml.YAMLError as e:
        raise LabError(f"{spec_file} is malformed YAML: {str(e).splitlines()[0]}", "fix the file") from None
    _no_unknown_keys(spec, EXERCISE_KEYS, spec_file.name)
    steps = tuple(_load_step(folder, raw, i) for i, raw in enumerate(spec.get("steps") or []))
    names = [s.name for s in steps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LabError(f"{spec_file}: step names repeat: {', '.join(duplicates)}", "give each step its own name")
    if not steps:
        raise LabError(f"{spec_file}: no steps", "add at least one step")
    return Exercise(name=name, title=spec.get("title", name), summary=spec.get("summary", ""),
                    folder=folder, backends=tuple(spec.get("backends") or ("local",)),
                    request=dict(spec.get("request") or {}), destinations=dict(spec.get("destinations") or {}),
                    steps=steps)


def _load_step(folder: Path, raw: dict, index: int) -> Step:
    where = f"{folder.name}/exercise.yaml step {index + 1}"
    if not isinstance(raw, dict) or not raw.get("name"):
        raise LabError(f"{where} has no name", "every step needs a unique name")
    _no_unknown_keys(raw, STEP_KEYS, f"{where} ({raw['name']})")
    kind = raw.get("kind")
    if kind not in STEP_KINDS:
        raise LabError(f"{where} ({raw['name']}): kind {kind!r} is unknown", f"use one of {', '.join(STEP_KINDS)}")

    def path(relative: str | None) -> Path | None:
        if relative is None:
            return None
        resolved = folder / relative
        if not resolved.is_file():
            raise LabError(f"{where} ({raw['name']}): {relative} does not exist", "fix the path")
        return resolved

    text_file = path(raw.get("text"))
    step = Step(name=raw["name"], kind=kind, text=text_file.read_text() if text_file else "",
                manifests=tuple(path(m) for m in raw.get("manifests") or ()),
                workfile=path(raw.get("workfile")), hints=tuple(raw.get("hints") or ()),
                solution=path(raw.get("solution")), check=raw.get("check") or {},
                backends=tuple(raw.get("backends") or ()), patch=_patch_target(raw, where),
                helm=_helm_release(folder, raw, where), values=tuple(path(v) for v in raw.get("values") or ()))
    needs = {"apply": ["manifests"], "helm": ["helm"], "task": ["solution", "check"],
             "check": ["check"]}.get(kind, [])
    missing = [key for key in needs if not raw.get(key)]
    if missing:
        raise LabError(f"{where} ({raw['name']}): a {kind} step needs {', '.join(missing)}", "add it")
    return step


def _helm_release(folder: Path, raw: dict, where: str) -> HelmRelease | None:
    spec = raw.get("helm")
    if spec is None:
        return None
    chart = folder / str((spec or {}).get("chart", ""))
    if not isinstance(spec, dict) or not (chart / "Chart.yaml").is_file():
        raise LabError(f"{where} ({raw['name']}): helm.chart must name a chart folder of the exercise",
                       "e.g. helm: {chart: chart/traffic-manager, release: traffic-manager, namespace: traffic}")
    return HelmRelease(chart, spec.get("release", chart.name), spec.get("namespace", "default"))


def _patch_target(raw: dict, where: str) -> Ref | None:
    target = raw.get("patch")
    if target is None:
        return None
    if not isinstance(target, dict) or not {"kind", "name"} <= set(target):
        raise LabError(f"{where} ({raw['name']}): patch needs kind, name (and namespace)",
                       "e.g. patch: {kind: VirtualService, namespace: app-example, name: app-example}")
    return Ref(target["kind"], target.get("namespace", "default"), target["name"])


def _no_unknown_keys(spec: dict, known: set[str], where: str) -> None:
    for key in spec:
        if key not in known:
            raise LabError(f"{where}: unknown key {key!r}{_suggest(key, sorted(known))}",
                           f"known keys: {', '.join(sorted(known))}")


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""
