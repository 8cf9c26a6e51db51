"""What each `invoke` task does, with plain values in and out (no Invoke here)."""

import sys

from lab import ui
from lab.backends.select import choose_provider, current_backend, lab_state, make_backend
from lab.config import APPS_DIR, check_alpha, check_beta, lab_paths
from lab.errors import LabError, NotUp
from lab.manifests import Ref, load_manifest_file, parse_manifests
from lab.state import Progress

SAMPLE_APPS = APPS_DIR / "sample-apps.yaml"
SAMPLE_HOST = "canary.lab.local"


def up(provider: str = "auto", port: int | None = None, addons: str = "") -> None:
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
        port = state.gateway_port
    if addons and name == "local":
        raise LabError(f"addons ({addons}) need a cluster; the local lab has none",
                       "use `invoke up --provider k3d --addons kiali` where Docker runs")
    backend = make_backend(paths, name, port)
    try:
        with ui.step(f"gateway on {backend.gateway_url()}"):
            changed = backend.up()
        with ui.step("sample apps (httpbin, tornado)"):
            lines = backend.apply(load_manifest_file(SAMPLE_APPS))
        if addons:
            backend.install_addons([a.strip() for a in addons.split(",") if a.strip()])
    except BaseException:
        if state is None:  # this call started the lab: an error or Ctrl-C leaves nothing half-up
            backend.down()
        raise
    changed = changed or any(not line.endswith(" unchanged") for line in lines)
    if not changed:
        ui.info(f"The {name} lab is already up; nothing changed.")
    ui.info(f"\nGateway: [bold]{backend.gateway_url()}[/]  "
            f"(try: curl -H 'Host: {SAMPLE_HOST}' {backend.gateway_url()}/ once an exercise routes it)")
    ui.info("Next: [bold]invoke exercise canary[/]  ·  `invoke status` shows the lab  ·  `invoke down` removes it")


def down() -> None:
    paths = lab_paths()
    state = lab_state(paths)
    if state is None:
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
        table = ui.table("part", "state", "detail", title="processes", title_justify="left")
        for proc in report.processes:
            colour = "green" if proc.state == "running" else "red"
            table.add_row(proc.name, f"[{colour}]{proc.state}[/]", proc.detail)
        ui.console.print(table)
        show_routes(report.routes)
        for note in report.notes:
            ui.info(f"[yellow]note:[/] {note}")
    done = progress.data["exercises"]
    if done:
        ui.info("progress: " + ", ".join(f"{name} ({len(v.get('done', []))} steps done)"
                                         for name, v in sorted(done.items())))


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
        return parse_manifests(sys.stdin.read(), "<stdin>")
    return load_manifest_file(file)


def apply(file: str) -> None:
    objects = read_objects(file)
    backend = current_backend(lab_paths())
    for line in backend.apply(objects):
        ui.info(line)


def get(kind: str, name: str, namespace: str = "default") -> None:
    import yaml

    backend = current_backend(lab_paths())
    ref = Ref(kind, "" if kind == "Namespace" else namespace, name)
    obj = backend.get(ref)
    if obj is None:
        raise LabError(f"{ref} is not applied in the lab", "check the kind, name and --namespace")
    ui.yaml_block(yaml.safe_dump(obj, sort_keys=False))


def traffic(requests: int = 100, host: str = SAMPLE_HOST, path: str = "/", headers: list[str] | None = None,
            https: bool = False) -> None:
    from lab.traffic.chart import counts_chart
    from lab.traffic.classify import Classifier
    from lab.traffic.sampler import RequestSpec, count

    if requests < 1 or requests > 100_000:
        raise LabError(f"--requests {requests} is out of range", "send between 1 and 100000 requests")
    backend = current_backend(lab_paths())
    spec = RequestSpec(host=host, path=path, headers=tuple(parse_header(h) for h in headers or ()),
                       scheme="https" if https else "http")
    base, ca_file = backend.gateway_endpoint(spec.scheme)
    target = f"{'https://' if https else ''}{host}{path}"
    counts: dict[str, int] = {}
    try:
        with ui.progress(f"requests to {target}", requests) as advance:
            count(base, spec, Classifier.from_spec(KNOWN_APPS), requests, ca_file=ca_file,
                  counts=counts, on_count=advance)
    except KeyboardInterrupt:
        if counts:   # what came back before Ctrl-C is worth showing
            answered = sum(counts.values())
            ui.console.print(counts_chart(counts, title=f"{answered} of {requests} requests to {target} "
                                                        "(interrupted)"))
        raise
    ui.console.print(counts_chart(counts, title=f"{requests} requests to {target}"))


# How `invoke traffic` tells the sample apps apart.
KNOWN_APPS = {
    "httpbin": {"title": "httpbin.org"},
    "tornado": {"title": "tornado WebSocket example"},
    **{f"version {v}": {"header": {"x-version": v}} for v in ("v1", "v2", "v3", "stable", "canary")},
}


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise LabError(f"--header {text!r} is not NAME:VALUE", "write it like --header 'x-track: canary'")
    return name.strip(), value.strip()


def require_up():
    state = lab_state(lab_paths())
    if state is None:
        raise NotUp()
    return state


def exercise(name: str = "", list_: bool = False, yes: bool = False, reset: bool = False, step: str = "") -> None:
    from lab.exercises.catalogue import exercise_names, load_exercise
    from lab.exercises.walkthrough import Walkthrough, require_terminal_or_yes

    paths = lab_paths()
    if list_:
        return list_exercises()
    if not name:
        require_terminal_or_yes(yes)
        if yes:
            raise LabError("--yes needs an exercise name", "e.g. `invoke exercise canary --yes`")
        name = ui.choose("Which exercise?", exercise_names())
    chosen = load_exercise(name)
    require_terminal_or_yes(yes)
    check_alpha(), check_beta()   # a bad CANARY_LAB_ALPHA or _BETA is refused before any step runs
    state = require_up()
    if state.provider not in chosen.backends:
        raise LabError(f"exercise {name} needs {' or '.join(chosen.backends)}; the lab that is up is {state.provider}",
                       "`invoke down`, then `invoke up --provider` one of those")
    walkthrough = Walkthrough(chosen, current_backend(paths), paths, yes=yes)
    if reset:
        walkthrough.reset(step or None)
        ui.info(f"Progress of {name}{' step ' + step if step else ''} reset.")
    if not walkthrough.run(step or None):
        raise LabError(f"exercise {name}: some checks failed", "read the reasons above; `invoke status` shows the lab")


def list_exercises() -> None:
    from lab.exercises.catalogue import exercise_names, load_exercise

    progress = Progress(lab_paths())
    table = ui.table("exercise", "what you learn", "backends", "progress", title="exercises", title_justify="left")
    for name in exercise_names():
        chosen = load_exercise(name)
        done = len(set(progress.done(name)) & {s.name for s in chosen.steps})
        table.add_row(name, chosen.summary or chosen.title, ", ".join(chosen.backends),
                      f"{done}/{len(chosen.steps)} steps")
    ui.console.print(table)


def doctor(provider: str = "k3d", port: int | None = None) -> None:
    from lab.config import gateway_port
    from lab.doctor import FAIL, run_checks

    if provider not in ("k3d", "minikube"):
        raise LabError(f"doctor checks the cluster providers, not {provider!r}", "use --provider k3d or minikube")
    checks = run_checks(provider, gateway_port(port), lab_paths())
    table = ui.table("check", "result", "detail", "fix", title=f"preflight for {provider}", title_justify="left")
    colours = {"ok": "green", "warn": "yellow", "fail": "red"}
    for check in checks:
        table.add_row(check.name, f"[{colours[check.result]}]{check.result}[/]", check.detail, check.fix)
    ui.console.print(table)
    failed = [c.name for c in checks if c.result == FAIL]
    if failed:
        raise LabError(f"{len(failed)} check(s) failed: {', '.join(failed)}", "see the fixes above")


def dashboard(name: str) -> None:
    backend = current_backend(lab_paths())
    ui.info(f"Opening {name}; Ctrl-C stops it.")
    backend.dashboard(name)


def patch(kind: str, name: str, namespace: str = "default", patch_file: str = "", patch_text: str = "") -> None:
    from lab.patches import load_patch, parse_patch

    if bool(patch_file) == bool(patch_text):
        raise LabError("give the patch once: --patch-file FILE or --patch '[...]'",
                       "e.g. invoke patch VirtualService app-example -n app-example --patch-file patch.yaml")
    operations = load_patch(patch_file) if patch_file else parse_patch(patch_text, "--patch")
    backend = current_backend(lab_paths())
    ref = Ref(kind, "" if kind == "Namespace" else namespace, name)
    ui.info(backend.patch(ref, operations))


def helm(chart: str, release: str, namespace: str, values: list[str] | None = None,
         settings: list[str] | None = None) -> None:
    from pathlib import Path

    from lab.helm import render

    if not (Path(chart) / "Chart.yaml").is_file():
        raise LabError(f"{chart} is not a Helm chart (no Chart.yaml)", "give the chart's folder")
    objects = render(Path(chart), release, namespace, [Path(v) for v in values or ()], settings or ())
    for line in current_backend(lab_paths()).apply(objects):
        ui.info(line)


def rollout(kind: str, name: str, namespace: str, route: str, stable: str, canary: str, steps: str,
            interval: str, max_error_rate: str, max_p95_ms: str, min_requests: int = 20,
            traffic: bool = False, host: str = "", path: str = "/", scale_down: str = "") -> None:
    from contextlib import nullcontext

    from lab.rollout import Plan, Stepper, check_plan, number, parse_steps
    from lab.traffic.steady import SteadyTraffic

    interval, max_error_rate, max_p95_ms = (number(flag, value) for flag, value in (
        ("--interval", interval), ("--max-error-rate", max_error_rate), ("--max-p95-ms", max_p95_ms)))
    if kind != "VirtualService":
        raise LabError(f"a rollout steps a VirtualService's weights, not a {kind}",
                       f"invoke rollout VirtualService {name} ...")
    plan = Plan(ref=Ref(kind, namespace, name), route=route, stable=stable, canary=canary,
                steps=parse_steps(steps), interval=interval, max_error_rate=max_error_rate,
                max_p95_ms=max_p95_ms, min_requests=min_requests, scale_down=scale_down)
    check_plan(plan)
    backend = current_backend(lab_paths())
    if traffic and not host:
        held = backend.get(plan.ref) or {}
        host = next(iter((held.get("spec") or {}).get("hosts") or []), SAMPLE_HOST)
    load = SteadyTraffic(backend.gateway_url(), host, path) if traffic else nullcontext()
    ui.info(f"rollout of {canary} over {stable} in {plan.ref}: steps {', '.join(f'{s}%' for s in plan.steps)}, "
            f"{interval:g} s each, gates: errors ≤ {max_error_rate:g}%, p95 ≤ {max_p95_ms:g} ms"
            + (f"; sending {host}{path} traffic" if traffic else ""))
    with load:
        Stepper(backend, plan).run()
