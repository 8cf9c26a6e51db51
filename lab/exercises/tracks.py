"""The two tracks of an exercise: Istio's API (Gateway, VirtualService, DestinationRule) and the
Kubernetes Gateway API (Gateway, HTTPRoute). A variant is its own exercise folder,
exercises/NAME-gateway-api/, with its own progress and working copies; `--api` picks it, and the
choice is remembered per exercise, so `invoke exercise NAME` continues in the track last played."""

from lab.errors import LabError
from lab.exercises.catalogue import (
    GATEWAY_API_SUFFIX,
    base_exercise_names,
    gateway_api_names,
)
from lab.state import Progress

ISTIO, GATEWAY = "istio", "gateway"
TRACKS = {ISTIO: "Istio's API", GATEWAY: "Kubernetes Gateway API"}


def base_and_track(name: str) -> tuple[str, str]:
    """("canary", "gateway") for canary-gateway-api; ("canary", "istio") for canary."""
    if name.endswith(GATEWAY_API_SUFFIX) and name.removesuffix(GATEWAY_API_SUFFIX) in gateway_api_names():
        return name.removesuffix(GATEWAY_API_SUFFIX), GATEWAY
    return name, ISTIO


def tracks_of(base: str) -> list[str]:
    return [ISTIO, GATEWAY] if base in gateway_api_names() else [ISTIO]


def in_track(base: str, track: str) -> str:
    """The exercise folder that plays `base` in `track`."""
    return base + GATEWAY_API_SUFFIX if track == GATEWAY else base


def chosen_track_exercise(name: str, api: str, progress: Progress) -> str:
    """The exercise to play for NAME and --api: the variant asked for, else the track last played
    (Istio's API before the first). An unknown API, or a track the exercise lacks, is a LabError."""
    if api and api not in TRACKS:
        raise LabError(f"no API called {api!r}: the tracks are {', '.join(TRACKS)}",
                       f"e.g. `invoke exercise {name or 'canary'} --api gateway`")
    base, named_track = base_and_track(name)
    if base not in base_exercise_names():
        return name   # load_exercise says it does not exist, with the closest name
    if api and named_track == GATEWAY and api != GATEWAY:
        raise LabError(f"{name} is the Gateway API track of {base}",
                       f"`invoke exercise {base} --api {api}` plays {base} in {TRACKS[api]}")
    track = api or (named_track if named_track == GATEWAY else progress.track(base) or ISTIO)
    if track not in tracks_of(base):
        having = gateway_api_names()
        raise LabError(f"exercise {base} has no {TRACKS[track]} variant",
                       f"those with one: {', '.join(having)}; `invoke exercise {base}` plays it in {TRACKS[ISTIO]}")
    return in_track(base, track)
