"""The exercise catalogue: one folder per exercise under exercises/, read as data.

exercises/catalogue.yaml lists the exercises in learning order; each folder has exercise.yaml
(title, backends, the destinations and how to tell and route them, ordered named steps) plus
the Markdown, manifests and solutions it names. Both files are typed models validated at load:
a wrong field fails in one line naming the file and the field. No Python per exercise.
"""

import difflib
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from lab.config import EXERCISES_DIR, PROVIDERS, Provider, runs_on
from lab.errors import LabError
from lab.exercises.check_specs import (
    CHECK_KINDS,
    MIRROR_DIAGNOSES,
    RESILIENCE_DIAGNOSES,
    STICKY_DIAGNOSES,
    ArgoRolloutCheck,
    Check,
    Destination,
    ErrorsCheck,
    MirrorCheck,
    MtlsCheck,
    Question,
    Request,
    ResilienceCheck,
    RolloutCheck,
    ScaleCheck,
    StickyCheck,
    TrafficCheck,
    WebsocketCheck,
)
from lab.exercises.diagnoses import BY_CODE, TRAFFIC_DISAGREES
from lab.exercises.rollout_step import RolloutStep
from lab.kinds import resolve_kind
from lab.manifests import Ref

CATALOGUE_FILE = "catalogue.yaml"
GATEWAY_API_SUFFIX = "-gateway-api"   # exercises/NAME-gateway-api/ is NAME in the Kubernetes Gateway API
CHECK_MODELS: tuple[type[BaseModel], ...] = (   # in CHECK_KINDS' order
    TrafficCheck, WebsocketCheck, ErrorsCheck, MtlsCheck, ScaleCheck, RolloutCheck, ArgoRolloutCheck, ResilienceCheck,
    MirrorCheck, StickyCheck)
INSTALLS = Literal["prometheus", "argo-rollouts"]   # what an apply step may install first (cluster only)
STEP_NEEDS = {"apply": ("manifests",), "helm": ("helm",), "task": ("solution", "check"), "check": ("check",),
              "question": ("question",)}


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CatalogueFile(_File):
    format: Literal[1]
    exercises: list[str] = Field(min_length=1)
    # exercises with a Kubernetes Gateway API variant, in exercises/NAME-gateway-api/
    gateway_api: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _variants_of_listed_exercises(self):
        unknown = [n for n in self.gateway_api if n not in self.exercises]
        if unknown:
            raise ValueError(f"gateway_api names {', '.join(unknown)}, not in exercises")
        return self


class PatchTarget(_File):
    kind: str
    name: str
    namespace: str = "default"


class HelmSpec(_File):
    chart: str
    release: str | None = None
    namespace: str = "default"


class StepFile(_File):
    name: str = Field(min_length=1)
    kind: Literal["explain", "apply", "helm", "task", "check", "question"]
    text: str | None = None
    manifests: list[str] = Field(default_factory=list)
    # applied but not shown by an apply step: what it would give away is for the learner to measure
    unshown: list[str] = Field(default_factory=list)
    question: Question | None = None
    workfile: str | None = None
    hints: list[str] = Field(default_factory=list)
    # the first hint for a diagnosis, in this step's terms (a Helm step's values, not a route's weights)
    hints_for: dict[str, str] = Field(default_factory=dict)
    solution: str | None = None
    check: list[Check] = Field(default_factory=list)
    backends: list[Provider] = Field(default_factory=list)
    patch: PatchTarget | None = None
    helm: HelmSpec | None = None
    values: list[str] = Field(default_factory=list)
    rollout: RolloutStep | None = None     # a task answered by running `invoke rollout …`
    install: list[INSTALLS] = Field(default_factory=list)

    @field_validator("check", mode="before")
    @classmethod
    def _one_or_a_list(cls, value):
        return [value] if isinstance(value, dict) else value

    @field_validator("hints_for")
    @classmethod
    def _known_diagnoses(cls, value):
        known = {*BY_CODE, TRAFFIC_DISAGREES.code, *RESILIENCE_DIAGNOSES, *MIRROR_DIAGNOSES, *STICKY_DIAGNOSES}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"no diagnosis is called {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return value

    @model_validator(mode="after")
    def _has_what_its_kind_needs(self):
        missing = [key for key in STEP_NEEDS.get(self.kind, ()) if not getattr(self, key)]
        if missing:
            raise ValueError(f"a {self.kind} step needs {', '.join(missing)}")
        if self.question and self.kind != "question":
            raise ValueError(f"a {self.kind} step has no question (kind: question has)")
        if set(self.unshown) - set(self.manifests):
            raise ValueError("unshown names a file that is not one of the step's manifests")
        return self


class ExerciseFile(_File):
    format: Literal[1]
    title: str
    summary: str
    backends: list[Provider] = Field(default_factory=lambda: list[Provider](["local"]), min_length=1)
    request: Request = Field(default_factory=Request)
    destinations: dict[str, Destination] = Field(min_length=1)
    steps: list[StepFile] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_hold_together(self):
        names = [s.name for s in self.steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"step names repeat: {', '.join(duplicates)}")
        for step in self.steps:
            for check in step.check:
                spec = check.spec
                named = list(spec.expect) if isinstance(spec, TrafficCheck) else \
                    [spec.canary, spec.stable] if isinstance(spec, ErrorsCheck) else \
                    [spec.destination] if isinstance(spec, (ResilienceCheck, MirrorCheck)) else \
                    list(spec.expect or {}) if isinstance(spec, WebsocketCheck) else []
                unknown = [n for n in named if n not in self.destinations]
                if unknown:
                    raise ValueError(f"step {step.name}: check names {', '.join(unknown)}, not a destination "
                                     f"({', '.join(self.destinations)})")
        return self


class HelmRelease(BaseModel):
    model_config = ConfigDict(frozen=True)
    chart: Path
    release: str
    namespace: str


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    name: str
    kind: str
    text: str = ""                           # Markdown, already read
    manifests: tuple[Path, ...] = ()         # kind apply
    unshown: tuple[Path, ...] = ()           # kind apply: applied, not shown
    question: Question | None = None         # kind question
    workfile: Path | None = None             # kind task: the file the learner edits (a copy of this)
    hints: tuple[str, ...] = ()
    hints_for: tuple[tuple[str, str], ...] = ()   # (diagnosis code, its first hint here)
    solution: Path | None = None
    check: tuple[Check, ...] = ()            # every one must pass
    backends: tuple[Provider, ...] = ()      # empty: every backend of the exercise
    patch: Ref | None = None                 # kind task: the solution is a JSON patch of this object
    helm: HelmRelease | None = None          # kind helm, or a task whose solution is a values file
    values: tuple[Path, ...] = ()            # kind helm: values files
    rollout: RolloutStep | None = None       # kind task: answered by `invoke rollout …`; solution is what it leaves
    install: tuple[str, ...] = ()            # kind apply: installed first (a cluster's addons, Argo Rollouts)

    @field_validator("check", mode="before")
    @classmethod
    def _one_or_a_list(cls, value):
        return (value,) if isinstance(value, dict) else value

    def runs_on(self, provider: str) -> bool:
        """Whether this lab does the step (its exercise's backends are the exercise's to ask)."""
        return not self.backends or runs_on(provider, self.backends)

    # The fields a step's kind requires (STEP_NEEDS, checked at load), typed as present: code that
    # handles one kind of step reads these, and a step without the field is a bug named in one line.
    @property
    def required_question(self) -> Question:
        return _required(self, "question", self.question)

    @property
    def required_solution(self) -> Path:
        return _required(self, "solution", self.solution)

    @property
    def required_workfile(self) -> Path:
        return _required(self, "workfile", self.workfile)

    @property
    def required_helm(self) -> HelmRelease:
        return _required(self, "helm", self.helm)


_Field = TypeVar("_Field")


def _required(step: Step, field: str, value: "_Field | None") -> "_Field":
    if value is None:
        raise LabError(f"step {step.name} ({step.kind}) has no {field}", "give it one in the exercise's exercise.yaml")
    return value


class Exercise(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    title: str
    summary: str
    folder: Path
    backends: tuple[Provider, ...]
    request: Request
    destinations: dict[str, Destination]
    steps: tuple[Step, ...] = ()

    def runs_on(self, provider: str) -> bool:
        """Whether this lab can play the exercise (a cluster provider named stands for all of them)."""
        return runs_on(provider, self.backends)

    @property
    def backends_shown(self) -> str:
        """Where it runs, as `invoke exercises` and the README's table say it (tests/test_kubectl_habits.py
        holds the two equal): every provider `runs_on` admits (one cluster provider named names them
        all), the local lab marked when it skips steps or checks that need a cluster."""
        providers = [p for p in PROVIDERS if runs_on(p, self.backends)]
        skips_steps = any(s.backends and not runs_on("local", s.backends) for s in self.steps)
        skips_checks = any(c.spec.backends and not runs_on("local", c.spec.backends)
                           for s in self.steps for c in s.check)
        local = ("local (cluster steps skipped)" if skips_steps else
                 "local (in-cluster checks skipped)" if skips_checks else "local")
        return ", ".join(local if p == "local" else p for p in providers)

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
    """Every exercise folder that can be played: the exercises in learning order, as catalogue.yaml
    lists them, then their Gateway API variants (NAME-gateway-api) in the same order."""
    catalogue = _read(root / CATALOGUE_FILE, CatalogueFile)
    return list(catalogue.exercises) + [n + GATEWAY_API_SUFFIX for n in catalogue.gateway_api]


def base_exercise_names(root: Path = EXERCISES_DIR) -> list[str]:
    """The exercises in learning order, each once whatever its tracks."""
    return list(_read(root / CATALOGUE_FILE, CatalogueFile).exercises)


def gateway_api_names(root: Path = EXERCISES_DIR) -> list[str]:
    """The exercises that have a Gateway API variant (by their own name, not the variant's)."""
    return list(_read(root / CATALOGUE_FILE, CatalogueFile).gateway_api)


def load_exercise(name: str, root: Path = EXERCISES_DIR) -> Exercise:
    folder = root / name
    spec_file = folder / "exercise.yaml"
    names = exercise_names(root)
    if name not in names or not spec_file.is_file():
        raise LabError(f"no exercise named {name!r}{_suggest(name, names).replace(';', ' —')}",
                       f"`invoke exercise --list` shows them all: {', '.join(names)}")
    spec = _read(spec_file, ExerciseFile)
    steps = tuple(_step(folder, raw, spec_file) for raw in spec.steps)
    return Exercise(name=name, title=spec.title, summary=spec.summary, folder=folder, backends=tuple(spec.backends),
                    request=spec.request, destinations=spec.destinations, steps=steps)


def _read(path: Path, model: type[_File]):
    where = _shown(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError:
        raise LabError(f"{where} is missing", "restore it from the repository") from None
    except yaml.YAMLError as e:
        raise LabError(f"{where} is malformed YAML: {str(e).splitlines()[0]}", "fix the file") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise LabError(f"{where}: {_first_error(e, data)}", f"fix that field of {path.name}") from None


def _first_error(error: ValidationError, data) -> str:
    """`steps[3] (shift-20).check[0].traffic.expect: expected shares add up to 90, not 100`."""
    detail = error.errors()[0]
    parts: list[str] = []
    node = data
    for key in detail["loc"]:
        if isinstance(key, int):
            name = node[key].get("name") if isinstance(node, list) and key < len(node) and \
                isinstance(node[key], dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{key}]" + (f" ({name})" if name else "")]
        else:
            parts.append(str(key))
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            node = None
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "extra_forbidden":
        message = f"unknown key{_suggest(str(detail['loc'][-1]), _known_keys(detail['loc']))}"
    return f"{'.'.join(parts)}: {message}" if parts else message


def _known_keys(loc: tuple) -> list[str]:
    """The keys the model at this place of the file knows (for "did you mean")."""
    models: dict[str, type[BaseModel]] = {
        "steps": StepFile, "destinations": Destination, "request": Request, "patch": PatchTarget,
        "helm": HelmSpec, "check": Check, "question": Question, "rollout": RolloutStep,
        **{kind: model for kind, model in zip(CHECK_KINDS, CHECK_MODELS, strict=True)}}
    model: type[BaseModel] = ExerciseFile
    for key in loc[:-1]:
        model = models.get(key, model) if isinstance(key, str) else model
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _step(folder: Path, raw: StepFile, spec_file: Path) -> Step:
    where = f"{_shown(spec_file)}: step {raw.name}"

    def path(relative: str | None) -> Path | None:
        if relative is None:
            return None
        resolved = folder / relative
        if not resolved.is_file():
            raise LabError(f"{where}: {relative} does not exist", "fix the path")
        return resolved

    for check in raw.check:
        load = getattr(check.spec, "load", None)
        if load:
            path(load)
    text_file = path(raw.text)
    return Step(name=raw.name, kind=raw.kind, text=text_file.read_text() if text_file else "",
                manifests=tuple(path(m) for m in raw.manifests), workfile=path(raw.workfile),
                unshown=tuple(path(m) for m in raw.unshown), question=raw.question,
                hints=tuple(raw.hints), hints_for=tuple(raw.hints_for.items()), solution=path(raw.solution),
                check=tuple(raw.check),
                backends=tuple(raw.backends), values=tuple(path(v) for v in raw.values),
                patch=_patch_target(raw.patch),
                helm=_helm_release(folder, raw.helm, where), rollout=raw.rollout,
                install=tuple(raw.install))


def _patch_target(target: PatchTarget | None) -> Ref | None:
    """The object a patch step changes; `kind: HTTPRoute` is the Gateway API's, as kubectl reads it."""
    return resolve_kind(target.kind).ref(target.namespace, target.name) if target else None


def _helm_release(folder: Path, spec: HelmSpec | None, where: str) -> HelmRelease | None:
    if spec is None:
        return None
    chart = folder / spec.chart
    if not (chart / "Chart.yaml").is_file():
        raise LabError(f"{where}: helm.chart must name a chart folder of the exercise",
                       "e.g. helm: {chart: chart/traffic-manager, release: traffic-manager, namespace: traffic}")
    return HelmRelease(chart=chart, release=spec.release or chart.name, namespace=spec.namespace)


def _shown(path: Path) -> str:
    """exercises/canary/exercise.yaml, whatever the checkout's location."""
    return "/".join(path.parts[-3:]) if path.name == "exercise.yaml" else "/".join(path.parts[-2:])


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""
