"""What each `invoke` task does, with plain values in and out (no Invoke here)."""

import re
import sys
from typing import TYPE_CHECKING

from lab import ui
from lab.backends.select import (
    choose_provider,
    current_backend,
    lab_state,
    make_backend,
    stop_local_processes,
    take_up_options,
)
from lab.config import APPS_DIR, check_alpha, check_beta, gateway_port, gateway_tls_port, lab_paths
from lab.errors import LabError, ManifestError, NotUp
from lab.files import DamagedFile
from lab.manifests import Ref, load_manifest_file, load_manifest_path, load_manifest_stream, ref_of
from lab.state import DamagedState, Progress, lab_lock

if TYPE_CHECKING:   # the sampler loads aiohttp: only the commands that send traffic import it
    from lab.traffic.sampler import Answer

SAMPLE_APPS = APPS_DIR / "sample-apps.yaml"
SAMPLE_HOST = "canary.lab.local"


def up(provider: str = "auto", port: int | None = None, addons: str = "", install_istio: bool = False,
       registry: str = "") -> None:
    # One step under the lab's lock, from reading what is up to the sample apps applied: a `down` in
    # another terminal waits for it (or says another command runs), never lands half-way through.
    with lab_lock(lab_paths()):
        _up(provider, port, addons, install_istio, registry)


def _up(provider: str, port: int | None, addons: str, install_istio: bool, registry: str) -> None:
    paths = lab_paths()
    state = lab_state(paths)
    if state is not None and provider not in ("auto", state.provider):
        raise LabError(f"a {state.provider} lab is already up",
                       f"run `invoke down` first to switch to {provider}")
    if state is None:
        name, why = choose_provider(provider)
        ui.info(f"provider: [bold]{name}[/] ({why})")
    else:
        name = state.provider
        if port and port != state.gateway_port:
            raise LabError(f"the {name} lab is already up on port {state.gateway_port}, not {port}",
                           f"use port {state.gateway_port}, or `invoke down` first to move it to {port}")
        port = state.gateway_port
    if addons and name == "local":
        raise LabError(f"addons ({addons}) need a cluster; the local lab has none",
                       "use `invoke up --provider k3d --addons kiali` where Docker runs")
    backend = make_backend(paths, name, port)
    take_up_options(backend, registry, install_istio)
    try:
        with ui.step(f"gateway on {backend.gateway_url()}"):
            changed = backend.up()
        with ui.step("sample apps (httpbin, tornado)"):
            sample = load_manifest_file(SAMPLE_APPS)
            if state is not None:   # a lab that is up keeps what the learner applied: only what is missing
                sample = [obj for obj in sample if backend.get(ref_of(obj)) is None]
            lines = backend.apply(sample) if sample else []
        if addons:
            backend.install_addons([a.strip() for a in addons.split(",") if a.strip()])
    except DamagedFile:
        raise   # named and kept: a `down` here would remove the very file the message names
    except BaseException:
        # Only `down` deletes a cluster: the next `up` finishes what this one started.
        if state is None and not backend.keeps_a_failed_first_up:
            backend.down()
        raise
    changed = changed or any(not line.endswith(" unchanged") for line in lines)
    if not changed:
        ui.info(f"The {name} lab is already up; nothing changed.")
    ui.info(f"\nGateway: [bold]{backend.gateway_url()}[/]  "
            f"(try: curl -H 'Host: {SAMPLE_HOST}' {backend.gateway_url()}/ once an exercise routes it)")
    ui.info(f"Gateway API Gateways each get a gateway of their own, the first on "
            f"{backend.entry_url('http', gateway_api=True)} (`invoke status` lists them)")
    from lab.exercises.standing import suggestion

    ui.info(f"Next: [bold]{suggestion(Progress(paths), name)}[/]  ·  `invoke status` shows the lab  ·  "
            "`invoke down` removes it")


def down() -> None:
    # Under the lab's lock from the first read: an `up` in another terminal finishes first, and
    # its lab is then read as up, never taken for leftovers of a lab that is down.
    with lab_lock(lab_paths()):
        _down()


def _down() -> None:
    paths = lab_paths()
    try:
        state = lab_state(paths)
    except DamagedState as damaged:
        # Not a dead end: a local lab is found by its processes, so stop it; a cluster needs the file.
        if stop_local_processes(paths):
            ui.info("The local lab's processes are stopped.")
        raise LabError(f"{damaged.message}; a local lab is stopped, a cluster lab (if any) is left as it is",
                       "delete the file, then `invoke up --provider k3d` (or minikube) finds a cluster again") \
            from None
    if state is None:
        # No state and no run folder, yet a local lab's processes may still run: they carry its marker.
        if stop_local_processes(paths):
            ui.info("The local lab's processes were still running without its files; they are stopped.")
        else:
            ui.info("Nothing is up; nothing to do.")
        return
    backend = make_backend(paths, state.provider, state.gateway_port)
    with ui.step(f"stopping the {state.provider} lab"):
        backend.down()
    ui.info("The lab is down. Your exercise progress is kept.")


def status() -> None:
    paths = lab_paths()
    state = lab_state(paths)
    progress = Progress(paths)
    if state is None:
        ui.info("No lab is up. Start one with `invoke up`.")
    else:
        report = make_backend(paths, state.provider, state.gateway_port).status()
        ui.info(f"provider: [bold]{report.provider}[/]   gateway: {report.gateway_url or '-'}")
        for gateway, listener, port, url in report.gateway_addresses:   # the Gateway API's own gateways
            ui.info(f"Gateway {gateway.namespace}/{gateway.name}: {url} (listener {listener}, port {port})")
        table = ui.table("part", "state", "detail", title="processes", title_justify="left")
        for proc in report.processes:
            colour = "green" if proc.state == "running" else "red"
            table.add_row(proc.name, f"[{colour}]{proc.state}[/]", proc.detail)
        ui.console.print(table)
        show_routes(report.routes)
        for note in report.notes:
            ui.info(f"[yellow]note:[/] {note}")
    from lab.exercises.standing import all_standings, suggestion

    started = [s for s in all_standings(progress) if s.seen]
    if started:
        ui.info("progress: " + ", ".join(f"{s.exercise.name} ({s.shown()})" for s in started))
    if state is not None:
        ui.info(f"next: {suggestion(progress, state.provider)}")


def show_routes(routes) -> None:
    if not routes:
        ui.info("gateway routes: none yet (apply a Gateway and a VirtualService)")
        return
    table = ui.table("host", "match", "destinations", title="gateway routes (live, from Envoy)",
                  title_justify="left")
    for route in routes:
        host = route.host if route.scheme == "http" else f"{route.host} (https)"
        table.add_row(host, route.match, ", ".join(str(d) for d in route.destinations))
    ui.console.print(table)


def read_objects(file: str) -> list[dict]:
    if file == "-":
        return load_manifest_stream(sys.stdin.buffer)
    return load_manifest_path(file)   # a file, or a folder's files as kubectl takes them


def apply(file: str) -> None:
    objects = read_objects(file)
    backend = current_backend(lab_paths())
    try:
        lines = backend.apply(objects)
    except ManifestError as refused:
        if len(objects) < 2:
            raise
        # The lab takes a file whole or not at all; kubectl applies each object on its own.
        raise ManifestError(f"{refused.message} (nothing from this file was applied; kubectl would still "
                            "apply the file's other objects)", refused.fix) from refused
    for line in lines:
        ui.info(line)


def get(kind: str, name: str = "", namespace: str = "", output: str = "", all_namespaces: bool = False) -> None:
    from lab import object_commands

    object_commands.get(kind, name, namespace, output, all_namespaces)


def delete(kind: str = "", name: str = "", namespace: str = "", file: str = "") -> None:
    from lab import object_commands

    object_commands.delete(kind, name, namespace, file)


def logs(name: str, follow: bool = False, tail: int = 0, namespace: str = "") -> None:
    from lab import object_commands

    object_commands.logs(name, follow, tail, namespace)


def traffic(requests: str | int = 100, host: str = SAMPLE_HOST, path: str = "/", headers: list[str] | None = None,
            https: bool = False) -> None:
    from lab.traffic.chart import counts_chart
    from lab.traffic.classify import Classifier
    from lab.traffic.sampler import Answer, RequestSpec, count

    try:
        total = int(requests)   # the task passes the flag's text
    except ValueError:
        total = 0
    if total < 1 or total > 100_000:
        raise LabError(f"--requests {requests} is not a number from 1 to 100000", "e.g. --requests 200")
    check_request_target(host, path)
    backend = current_backend(lab_paths())
    spec = RequestSpec(host=host, path=path, headers=tuple(parse_header(h) for h in headers or ()),
                       scheme="https" if https else "http")
    base, ca_file = backend.gateway_endpoint(spec.scheme, spec.host)
    sent = ", ".join(f"{name}: {value}" for name, value in spec.headers)
    target = f"{'https://' if https else ''}{host}{path}" + (f" with {sent}" if sent else "")
    counts: dict[str, int] = {}
    others: list[Answer] = []
    try:
        with ui.progress(f"requests to {target}", total) as advance:
            count(base, spec, Classifier.from_spec(KNOWN_APPS), total, ca_file=ca_file,
                  counts=counts, on_count=advance, others=others)
    except KeyboardInterrupt:
        if counts:   # what came back before Ctrl-C is worth showing
            answered = sum(counts.values())
            ui.console.print(counts_chart(counts, title=f"{answered} of {total} requests to {target} "
                                                        "(interrupted)"))
        raise
    ui.console.print(counts_chart(counts, title=f"{total} requests to {target}"))
    show_other_answers(others)


def show_other_answers(others: "list[Answer]") -> None:
    """Status codes that were no app's answer, each with what it means and what to look at."""
    from lab.traffic.status_reasons import summary_lines

    for line in summary_lines(others):
        ui.info(f"[red]{line}[/]" if line[0] in "5×n" else f"[yellow]{line}[/]")


def metrics(requests: str = "0", window: str = "10", host: str = SAMPLE_HOST, path: str = "/") -> None:
    """Per destination: request rate, error rate and p50/p95/p99 over one window, from the gateway's stats."""
    import time

    from lab.traffic.classify import Classifier
    from lab.traffic.per_destination import measure, show
    from lab.traffic.sampler import RequestSpec, count

    asked = f"--requests {requests} --window {window}"
    try:
        sent, seconds = int(requests), float(window)
    except ValueError:
        sent, seconds = -1, -1.0
    if not 0 <= sent <= 100_000 or not (sent or 1 <= seconds <= 600):
        raise LabError(f"{asked} do not fit",
                       "send traffic with --requests N (1-100000), or count yours for --window S seconds (1-600)")
    check_request_target(host, path)
    backend = current_backend(lab_paths())
    admin = backend.gateway_admin()
    if sent:
        spec = RequestSpec(host=host, path=path)
        base, ca_file = backend.gateway_endpoint(spec.scheme, spec.host)
        what = f"{sent} requests to {host}{path}"

        def during() -> None:
            counts: dict[str, int] = {}
            with ui.progress(f"requests to {host}{path}", sent) as advance:
                count(base, spec, Classifier.from_spec(KNOWN_APPS), sent, ca_file=ca_file, counts=counts,
                      on_count=advance)
    else:
        what = f"{seconds:g} s"

        def during() -> None:
            with ui.step(f"counting what reaches the gateway for {seconds:g} s: send your traffic now"):
                time.sleep(seconds)
    show(measure(admin, during), what)


def watch(interval: float = 1.0, window: float = 10.0, traffic: bool = False, host: str = SAMPLE_HOST,
          path: str = "/", count: int = 0) -> None:
    from lab.watch import run_watch

    check_request_target(host, path)
    if not 0.1 <= interval <= 60 or window < interval or count < 0:
        raise LabError(f"--interval {interval:g} --window {window:g} --count {count} do not fit together",
                       "an interval of 0.1-60 s, a window at least as long, and a count of 0 (until Ctrl-C) or more")
    run_watch(current_backend(lab_paths()), interval, window, traffic, host, path, count)


# How `invoke traffic` tells the sample apps apart. httpbin's pages carry its title; its JSON answers
# (/get, /headers, /ip, /uuid, /anything, …) have none, but httpbin puts Access-Control-Allow-Credentials:
# true on every answer (httpbin/core.py, set_cors_headers), which the other apps never send.
KNOWN_APPS: dict[str, object] = {
    "httpbin": [{"title": "httpbin.org"}, {"header": {"access-control-allow-credentials": "true"}, "json": True}],
    "tornado": {"title": "tornado WebSocket example"},
    **{f"version {v}": {"header": {"x-version": v}} for v in ("v1", "v2", "v3", "stable", "canary")},
}


HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")   # an HTTP token (RFC 9110)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if CONTROL.search(text.replace("\t", " ")):
        raise LabError(f"--header {text!r} holds a line break or another control character",
                       "give one header per --header, on one line")
    if not sep or not name.strip():
        raise LabError(f"--header {text!r} is not NAME:VALUE", "write it like --header 'x-track: canary'")
    if not HEADER_NAME.match(name.strip()):
        raise LabError(f"--header {text!r}: {name.strip()!r} is not a header name (no spaces, RFC 9110 token)",
                       "write it like --header 'x-track: canary'")
    return name.strip(), value.strip()


def check_request_target(host: str, path: str) -> None:
    """--host and --path as one line of a request: a line break would start another header."""
    if not host or CONTROL.search(host) or " " in host or "/" in host:
        raise LabError(f"--host {host!r} is not a host name", "e.g. --host canary.lab.local")
    if not path.startswith("/") or CONTROL.search(path) or " " in path:
        raise LabError(f"--path {path!r} is not a request path (starting with /, no spaces or line breaks)",
                       "e.g. --path /get; encode a space as %20")


def require_up():
    state = lab_state(lab_paths())
    if state is None:
        raise NotUp()
    return state


def exercise(name: str = "", list_: bool = False, yes: bool = False, reset: bool = False, step: str = "",
             api: str = "") -> None:
    from lab.exercises.catalogue import load_exercise
    from lab.exercises.tracks import base_and_track, chosen_track_exercise
    from lab.exercises.walkthrough import Walkthrough, require_terminal_or_yes

    paths = lab_paths()
    if list_:
        return list_exercises()
    if not name:
        require_terminal_or_yes(yes)
        if yes:
            raise LabError("--yes needs an exercise name", "e.g. `invoke exercise canary --yes`")
        name = choose_exercise(paths)
    if reset and not api:   # --reset resets the exercise named, never the track remembered from before
        api = base_and_track(name)[1]
    name = chosen_track_exercise(name, api, Progress(paths))
    chosen = load_exercise(name)
    require_terminal_or_yes(yes)
    check_alpha(), check_beta()   # a bad CANARY_LAB_ALPHA or _BETA is refused before any step runs
    state = require_up()
    if not chosen.runs_on(state.provider):
        raise LabError(f"exercise {name} needs {' or '.join(chosen.backends)}; the lab that is up is {state.provider}",
                       "`invoke down`, then `invoke up --provider` one of those")
    Progress(paths).mark_track(*base_and_track(name))   # `invoke exercise BASE` continues in this track
    walkthrough = Walkthrough(chosen, current_backend(paths), paths, yes=yes)
    if reset:
        kept = walkthrough.reset(step or None)
        ui.info(f"Progress of {name}{' step ' + step if step else ''} reset."
                + (f" Your working copies are kept in {kept.relative_to(paths.root)}/." if kept else ""))
    if not walkthrough.run(step or None):
        raise LabError(f"exercise {name}: some checks failed", "read the reasons above; `invoke status` shows the lab")


def check(exercise_name: str = "", step_name: str = "") -> None:
    """`invoke check [EXERCISE [STEP]]`: the step's check against the lab as it is; exit 1 unless it passes."""
    from lab.exercises.check_now import check_step, chosen_exercise, chosen_step

    paths = lab_paths()
    progress = Progress(paths)
    chosen = chosen_exercise(progress, exercise_name)
    check_alpha(), check_beta()
    state = require_up()
    if not chosen.runs_on(state.provider):
        raise LabError(f"exercise {chosen.name} needs {' or '.join(chosen.backends)}; the lab that is up is "
                       f"{state.provider}", "`invoke down`, then `invoke up --provider` one of those")
    step = chosen_step(chosen, progress, step_name, state.provider)
    check_step(chosen, step, current_backend(paths), paths)


def choose_exercise(paths) -> str:
    """The menu of `invoke exercises --choose`, each exercise with where the learner stands in it."""
    from lab.exercises.standing import all_standings

    labelled = {f"{s.exercise.name}  ({s.shown() if s.seen else 'not started'})": s.exercise.name
                for s in all_standings(Progress(paths))}
    return labelled[ui.choose("Which exercise?", list(labelled))]


def list_exercises() -> None:
    """One row per exercise and track (its Gateway API variant under it), each with its progress;
    the track `invoke exercise NAME` continues in is marked."""
    from lab.exercises.catalogue import base_exercise_names, exercise_names, load_exercise
    from lab.exercises.standing import standing
    from lab.exercises.tracks import ISTIO, in_track, tracks_of

    progress = Progress(lab_paths())
    table = ui.table("exercise", "API (--api)", "what you learn", "backends", "progress", title="exercises",
                     title_justify="left")
    for base in base_exercise_names():
        tracks = tracks_of(base)
        for track in tracks:
            name = in_track(base, track)
            chosen = load_exercise(name)
            current = len(tracks) > 1 and track == (progress.track(base) or ISTIO)
            # as `status` and `up` count: steps done or skipped (a cluster-only step on the local lab)
            table.add_row(name, track + (" •" if current else ""), chosen.summary or chosen.title,
                          chosen.backends_shown, standing(chosen, progress).shown())
    ui.console.print(table)
    ui.info("• the track `invoke exercise NAME` continues in; `--api istio` or `--api gateway` picks one.")
    show_helm_needs([name for name in exercise_names() if load_exercise(name).needs_helm])


def show_helm_needs(names: list[str]) -> None:
    """Say before an exercise starts that it needs helm, and how the lab gets it."""
    from lab.helm import helm_source

    if names:
        ui.info(f"{', '.join(names)} render{'s' if len(names) == 1 else ''} a Helm chart and need"
                f"{'s' if len(names) == 1 else ''} helm: {helm_source()[1]}.")


def doctor(provider: str = "auto", port: int | None = None) -> None:
    from lab.doctor import FAIL, run_checks

    paths = lab_paths()
    state = lab_state(paths)
    if provider == "auto":   # the lab that is up, else the one `up` would pick
        provider = state.provider if state else choose_provider("auto")[0]
    elif provider not in ("local", "k3d", "minikube", "kind", "existing"):
        raise LabError(f"doctor checks a provider's lab: local, k3d, minikube, kind or existing, not {provider!r}",
                       "use --provider local, k3d, minikube, kind or existing")
    port = gateway_port(port if port else state.gateway_port if state else None)
    # The lab's gateway ports, and its Gateway API track's beside them (held by the lab while it is up).
    lab_ports = frozenset(p for base in (state.gateway_port, gateway_tls_port(state.gateway_port))
                          for p in (base, base + 1)) if state else frozenset()
    checks = run_checks(provider, port, paths, lab_ports=lab_ports)
    table = ui.table("check", "result", "detail", "fix", title=f"preflight for {provider}", title_justify="left")
    colours = {"ok": "green", "warn": "yellow", "fail": "red"}
    for check in checks:
        table.add_row(check.name, f"[{colours[check.result]}]{check.result}[/]", check.detail, check.fix)
    ui.console.print(table)
    failed = [c.name for c in checks if c.result == FAIL]
    if failed:
        raise LabError(f"{len(failed)} check(s) failed: {', '.join(failed)}", "see the fixes above")


def dashboard(name: str = "", port: int = 0, window: float = 10.0) -> None:
    """No NAME: the lab's own live page (both backends); NAME: a cluster addon's (kiali, prometheus)."""
    from lab.dashboard.server import run

    if name:
        backend = current_backend(lab_paths())
        ui.info(f"Opening {name}; Ctrl-C stops it.")
        backend.dashboard(name)
        return
    if not 0 <= port <= 65535 or not 1 <= window <= 600:
        raise LabError(f"--port {port} --window {window:g} do not fit",
                       "a port of 1-65535 (or none: a free one) and a window of 1-600 seconds")
    run(lab_paths(), port, window)


def patch(kind: str, name: str, namespace: str = "default", patch_file: str = "", patch_text: str = "") -> None:
    from lab.patches import load_patch, parse_patch

    if bool(patch_file) == bool(patch_text):
        raise LabError("give the patch once: --patch-file FILE or --patch '[...]'",
                       "e.g. invoke patch VirtualService app-example -n app-example --patch-file patch.yaml")
    operations = load_patch(patch_file) if patch_file else parse_patch(patch_text, "--patch")
    from lab.kinds import resolve_kind

    if not name:
        raise LabError(f"patch {kind} needs a NAME", "e.g. invoke patch vs app-example -n app-example --patch-file F")
    backend = current_backend(lab_paths())
    ref = resolve_kind(kind).ref(namespace, name)
    ui.info(backend.patch(ref, operations))


def helm(chart: str, release: str, namespace: str, values: list[str] | None = None,
         settings: list[str] | None = None, reuse_values: bool = False) -> None:
    from pathlib import Path

    from lab.helm import upgrade

    if not (Path(chart) / "Chart.yaml").is_file():
        raise LabError(f"{chart} is not a Helm chart (no Chart.yaml)", "give the chart's folder")
    backend = current_backend(lab_paths())
    for line in upgrade(backend, Path(chart), release, namespace, [Path(v) for v in values or ()],
                        settings or (), reuse_values):
        ui.info(line)


def rollout(kind: str, name: str, namespace: str, route: str, stable: str, canary: str, steps: str,
            interval: str, max_error_rate: str, max_p95_ms: str, min_requests: int = 20,
            traffic: bool = False, host: str = "", path: str = "/", scale_down: str = "") -> None:
    from lab.kinds import resolve_kind
    from lab.rollout import Plan, check_plan, number, parse_steps, roll_out

    seconds, error_rate, p95_ms = (number(flag, value) for flag, value in (
        ("--interval", interval), ("--max-error-rate", max_error_rate), ("--max-p95-ms", max_p95_ms)))
    chosen = resolve_kind(kind) if kind else None
    if chosen is None or (chosen.name, chosen.group) != ("VirtualService", ""):
        raise LabError(f"a rollout steps a VirtualService's weights, not a {kind or 'nothing'}",
                       f"invoke rollout vs {name or 'NAME'} --stable S --canary C ...")
    if not name:
        raise LabError("a rollout needs the VirtualService's NAME", "invoke rollout vs NAME --stable S --canary C ...")
    plan = Plan(ref=Ref("VirtualService", namespace, name), route=route, stable=stable, canary=canary,
                steps=parse_steps(steps), interval=seconds, max_error_rate=error_rate,
                max_p95_ms=p95_ms, min_requests=min_requests, scale_down=scale_down)
    check_plan(plan)
    if host:
        check_request_target(host, path)
    backend = current_backend(lab_paths())
    if traffic and not host:
        held = backend.get(plan.ref) or {}
        host = next(iter((held.get("spec") or {}).get("hosts") or []), SAMPLE_HOST)
    roll_out(backend, plan, traffic, host, path)
