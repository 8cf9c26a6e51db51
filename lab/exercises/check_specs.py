"""The check specs of exercise.yaml, typed: a wrong one fails when the catalogue loads, naming
the file and the field, not when a learner reaches the step."""

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lab.config import Provider

SCHEMES = Literal["http", "https"]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Request(Spec):
    """The request a check sends (and reads the gateway's config for)."""
    host: str = "*"
    path: str = "/"
    headers: dict[str, str] = Field(default_factory=dict)
    scheme: SCHEMES = "http"


class RequestOverride(Spec):
    host: str | None = None
    path: str | None = None
    headers: dict[str, str] | None = None
    scheme: SCHEMES | None = None


class Destination(Spec):
    """One app: how to recognise its answers (exactly one of title, header, body) and what routes it
    (a Service as name.namespace, and a subset when the Service's versions are subsets; with a
    Service per version, `within` names a Service over every version's pods, whose route then
    splits by ready pods)."""
    title: str | None = None
    header: dict[str, str] | None = None
    body: str | None = None
    service: str
    subset: str = ""
    within: str = ""

    @model_validator(mode="after")
    def _one_fingerprint(self):
        given = [k for k in ("title", "header", "body") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of title, header or body")
        if self.header is not None and len(self.header) != 1:
            raise ValueError("header names exactly one header and its value")
        if self.body is not None:
            try:
                re.compile(self.body)
            except re.error as e:
                raise ValueError(f"body {self.body!r} is not a regex ({e})") from None
        for key in ("service", "within"):
            value = getattr(self, key)
            if (value or key == "service") and "." not in value:
                raise ValueError(f"{key} {value!r} must be name.namespace")
        if self.within and self.subset:
            raise ValueError("give subset (versions as subsets of one Service) or within (a Service per version), "
                             "not both")
        return self

    def fingerprint(self) -> dict:
        kind = next(k for k in ("title", "header", "body") if getattr(self, k) is not None)
        return {kind: getattr(self, kind)}


def shares_adding_up(expect: dict[str, float]) -> dict[str, float]:
    if not expect or any(not 0 <= p <= 100 for p in expect.values()):
        raise ValueError("each expected share is 0 to 100")
    if abs(sum(expect.values()) - 100) > 0.01:
        raise ValueError(f"expected shares add up to {sum(expect.values()):g}, not 100")
    return expect


class CheckSpec(Spec):
    backends: tuple[Provider, ...] = ()


def _path_pattern(pattern: str) -> str:
    """"/x" is that path only, "/x/*" the path and every path under it, "/*" every path."""
    stem = pattern.removesuffix("/*")
    if not pattern.startswith("/") or "*" in stem or "?" in pattern:
        raise ValueError(f"path {pattern!r} is not /PATH, /PATH/* or /* (every path)")
    return pattern


class About(Spec):
    """Which requests an expectation is about (the check's request is one of them): the paths it covers
    ("/*" every path; "/x/*" /x and under it; "/x" only /x), but not those under `except`. A request
    whose path merely starts like an excepted one (/websockets beside /websocket) is no one's: a right
    answer may route it either way. The headers are the check's request's; a header the exercise routes
    on elsewhere is absent from a check's requests unless its request names it."""
    paths: tuple[str, ...] = ("/*",)
    except_: tuple[str, ...] = Field((), alias="except")

    @field_validator("paths", "except_")
    @classmethod
    def _patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_path_pattern(p) for p in patterns)

    @field_validator("paths")
    @classmethod
    def _some(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        if not patterns:
            raise ValueError("give at least one path (\"/*\" is every path)")
        return patterns


class TrafficCheck(CheckSpec):
    expect: dict[str, float]
    tolerance: float = Field(10, gt=0, lt=100)
    request: RequestOverride | None = None
    about: About = About.model_validate({})   # every path (frozen: one default serves all)
    # How the split may be made: by route weights (a destination per version), or also by ready pods
    # (a route to a Service over every version, which splits like plain load balancing).
    by: Literal["weights", "weights-or-pods"] = "weights"
    from_: Literal["gateway", "mesh"] = Field("gateway", alias="from")
    url: str | None = None
    # Answers that failed but say who sent them (a 500 with x-version) count for their sender: the
    # split is about where requests go. For a step whose canary is meant to fail.
    count_failed_answers: bool = False

    @field_validator("expect")
    @classmethod
    def _adds_up(cls, expect: dict[str, float]) -> dict[str, float]:
        return shares_adding_up(expect)

    @model_validator(mode="after")
    def _mesh_needs_url(self):
        if self.from_ == "mesh" and not self.url:
            raise ValueError("a traffic check from the mesh needs the url to call, e.g. http://app.namespace/")
        return self


class WebsocketCheck(CheckSpec):
    path: str = "/websocket"
    connections: int = Field(10, gt=0)
    messages: int = Field(3, gt=0)
    request: RequestOverride | None = None
    # Where the gateway's routes must send requests to `path` (checked before any connection), e.g.
    # {tornado: 100}: a WebSocket route deleted or shadowed fails in the config, whatever else answers.
    expect: dict[str, float] | None = None

    @field_validator("expect")
    @classmethod
    def _adds_up(cls, expect: dict[str, float] | None) -> dict[str, float] | None:
        return None if expect is None else shares_adding_up(expect)


class ErrorsCheck(CheckSpec):
    canary: str
    stable: str
    requests: int = Field(1000, gt=0)
    request: RequestOverride | None = None


class MtlsCheck(CheckSpec):
    url: str
    requests: int = Field(5, gt=0)


class ScaleCheck(CheckSpec):
    namespace: str
    deployment: str
    watch: list[str] = Field(default_factory=list)
    min_replicas: int = Field(2, gt=0)
    load: str
    timeout: float = Field(300, gt=0)
    interval: float = Field(10, gt=0)


class RolloutCheck(CheckSpec):
    """What the last `invoke rollout` of a VirtualService decided (its record on the object), and,
    after a promotion, the old version's Deployment at 0 replicas."""
    virtualservice: str
    namespace: str = "default"
    canary: str
    outcome: Literal["promoted", "rolled-back"]
    scaled_down: str = ""


class ArgoRolloutCheck(CheckSpec):
    """An Argo Rollouts Rollout, once its controller has finished (cluster only): its phase (Healthy
    after a full promotion, Degraded after an abort) and the weights it left on its VirtualService."""
    rollout: str
    namespace: str = "default"
    phase: Literal["Healthy", "Degraded"]
    version: str                 # the release rolled out: the `version` label of the Rollout's pod template
    timeout: float = Field(300, gt=0)
    interval: float = Field(5, gt=0)


# What a resilience check can find (its CheckResult.diagnosis), for a step's hints_for.
RESILIENCE_DIAGNOSES = ("no-traffic", "clients-see-errors", "no-own-errors", "not-timed-out", "not-ejected")


class ResilienceCheck(CheckSpec):
    """Retries, timeouts, outlier detection (lab/exercises/resilience_check.py): what clients got over
    `requests` (after `warmup` uncounted ones) against the gateway's own counters for one destination."""
    destination: str                                   # a name of the exercise's destinations
    requests: int = Field(600, gt=0)
    warmup: int = Field(0, ge=0)
    request: RequestOverride | None = None
    client_errors_at_most: float | None = Field(None, ge=0, le=100)   # % of answers that were errors
    own_errors_at_least: float | None = Field(None, ge=0, le=100)     # % of its attempts answered 5xx
    timeouts_at_least: float | None = Field(None, ge=0, le=100)       # % of its requests the timeout cut
    ejected_at_least: int | None = Field(None, gt=0)                  # its pods outlier detection holds out

    @model_validator(mode="after")
    def _judges_something(self):
        if all(getattr(self, k) is None for k in ("client_errors_at_most", "own_errors_at_least",
                                                   "timeouts_at_least", "ejected_at_least")):
            raise ValueError("give at least one of client_errors_at_most, own_errors_at_least, "
                             "timeouts_at_least, ejected_at_least")
        return self


# What a mirror check can find (its CheckResult.diagnosis), for a step's hints_for.
MIRROR_DIAGNOSES = ("not-mirrored", "still-mirrored", "mirror-reaches-users")


class MirrorCheck(CheckSpec):
    """Shadow traffic (lab/exercises/mirror_check.py): over `requests`, no user answer may come from
    `destination`, and the copies it got, as the gateway counted them, are a share of the requests
    sent within the bounds (% of requests)."""
    destination: str                                   # a name of the exercise's destinations
    requests: int = Field(400, gt=0)
    request: RequestOverride | None = None
    copies_at_least: float | None = Field(None, ge=0, le=100)
    copies_at_most: float | None = Field(None, ge=0, le=100)

    @model_validator(mode="after")
    def _bounds_copies(self):
        if self.copies_at_least is None and self.copies_at_most is None:
            raise ValueError("give copies_at_least or copies_at_most")
        return self


# What a sticky check can find (its CheckResult.diagnosis), for a step's hints_for.
STICKY_DIAGNOSES = ("not-sticky",)


class StickyCheck(CheckSpec):
    """A session's pods (lab/exercises/sticky_check.py): one client sends `requests` with the request's
    headers (its cookie); within each version its requests must reach at most `pods_per_version` pods,
    as the gateway's Envoy counted them per pod."""
    requests: int = Field(100, gt=0)
    request: RequestOverride | None = None
    pods_per_version: int = Field(1, gt=0)


class Check(Spec):
    """One check: exactly one of its kinds, e.g. {traffic: {expect: {v1: 90, v2: 10}}}."""
    traffic: TrafficCheck | None = None
    websocket: WebsocketCheck | None = None
    errors: ErrorsCheck | None = None
    mtls: MtlsCheck | None = None
    scale: ScaleCheck | None = None
    rollout: RolloutCheck | None = None
    argo: ArgoRolloutCheck | None = None
    resilience: ResilienceCheck | None = None
    mirror: MirrorCheck | None = None
    sticky: StickyCheck | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        if len([k for k in CHECK_KINDS if getattr(self, k) is not None]) != 1:
            raise ValueError(f"a check is exactly one of {', '.join(CHECK_KINDS)}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in CHECK_KINDS if getattr(self, k) is not None)

    @property
    def spec(self) -> CheckSpec:
        return getattr(self, self.kind)


CHECK_KINDS = ("traffic", "websocket", "errors", "mtls", "scale", "rollout", "argo", "resilience", "mirror", "sticky")


class Question(Spec):
    """A question the walkthrough asks (a step of kind question). A prediction is asked before the lab
    measures: any answer goes on, a wrong one with why. A `decision` is the learner's call on what to do
    next: only a right answer goes on, and the config check after it verifies the learner did it."""
    prompt: str = Field(min_length=1)
    choices: tuple[str, ...] = Field(min_length=2)
    answer: tuple[str, ...] = Field(min_length=1)      # the right choice(s)
    explain: str = Field(min_length=1)                 # shown after any answer, right or wrong
    why_not: dict[str, str] = Field(default_factory=dict)   # a wrong choice → why it is wrong
    decision: bool = False

    @field_validator("answer", mode="before")
    @classmethod
    def _one_or_several(cls, value):
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _answers_are_choices(self):
        if len(set(self.choices)) != len(self.choices):
            raise ValueError("choices repeat")
        if any(not c.strip() or c.strip().lower() == "quit" for c in self.choices):
            raise ValueError("a choice is empty or 'quit' (the menu's own way out)")
        strangers = [a for a in (*self.answer, *self.why_not) if a not in self.choices]
        if strangers:
            raise ValueError(f"{', '.join(map(repr, strangers))} is not one of the choices")
        if set(self.answer) & set(self.why_not):
            raise ValueError("why_not explains a right answer")
        if set(self.answer) == set(self.choices):
            raise ValueError("every choice is right: nothing to think about")
        return self
