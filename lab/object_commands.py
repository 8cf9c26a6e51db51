"""`invoke get`, `invoke delete` and `invoke logs`, with kubectl's habits: kinds in any
spelling (lab/kinds.py), `get KIND` lists (every namespace, or `-n NAMESPACE`; `-A`), `get pods`
as kubectl's columns, `-o yaml|json` written plain, `delete -f FILE|DIR`, `logs NAME [-n NS] [-f]
[--tail N]`; a name that is not there suggests the closest one."""

import difflib
import json
import sys

import yaml

from lab import ui
from lab.backends.select import current_backend
from lab.config import lab_paths
from lab.errors import LabError
from lab.kinds import Kind, kind_of, resolve_kind
from lab.manifests import Ref, load_manifest_path, ref_of
from lab.pod_rows import pod_row

OUTPUTS = ("", "yaml", "json")
DEFAULT_NAMESPACE = "canary-lab"   # the sample apps' namespace: where `get KIND NAME` looks without -n


def get(kind: str, name: str = "", namespace: str = "", output: str = "", all_namespaces: bool = False) -> None:
    if output not in OUTPUTS:
        raise LabError(f"-o {output} is not an output the lab shows", "use -o yaml or -o json (or leave it out)")
    if all_namespaces and name:   # kubectl's own refusal
        raise LabError("a resource cannot be retrieved by name across all namespaces",
                       f"leave out -A, or say where: `invoke get {kind} {name} -n NAMESPACE`")
    chosen = resolve_kind(kind)
    namespace = "" if all_namespaces else namespace   # -A wins over -n, as in kubectl
    backend = current_backend(lab_paths())
    if not name:
        found = [o for o in backend.list_objects(chosen.name, chosen.group)
                 if not namespace or _namespace(o) == namespace]
        return _show_list(chosen, found, namespace, output)
    ref = chosen.ref(namespace or DEFAULT_NAMESPACE, name)
    obj = backend.get(ref)
    if obj is None:
        raise LabError(f"{ref} is not in the lab", _closest(backend.list_objects(chosen.name, chosen.group), ref))
    _show(obj, output)
    if output != "json":   # a YAML comment: the output still parses
        for _, listener, port, url in (a for a in backend.gateway_addresses() if a[0] == ref):
            ui.plain(f"# listener {listener} (port {port}) is reached here at {url}")


def delete(kind: str = "", name: str = "", namespace: str = "", file: str = "") -> None:
    if bool(file) == bool(kind):
        raise LabError("say what to delete once: KIND NAME, or -f FILE|DIR",
                       "e.g. `invoke delete vs app-example -n app-example` or `invoke delete -f FILE`")
    if file:
        refs = [ref_of(obj) for obj in load_manifest_path(file)]
    else:
        if not name:
            raise LabError(f"delete {kind} needs a NAME", "e.g. invoke delete vs app-example -n app-example")
        refs = [resolve_kind(kind).ref(namespace or DEFAULT_NAMESPACE, name)]
    backend = current_backend(lab_paths())
    missing = [ref for ref in refs if backend.get(ref) is None]
    if missing:
        closest = _closest(backend.list_objects(missing[0].kind, missing[0].group), missing[0])
        raise LabError(f"{', '.join(map(str, missing))} not in the lab; nothing was deleted", closest)
    backend.delete(refs)
    for ref in refs:
        ui.info(f"{ref.kind.lower()}/{ref.name} deleted" + (f" (namespace {ref.namespace})" if ref.namespace else ""))


def logs(name: str, follow: bool = False, tail: int = 0, namespace: str = "") -> None:
    """kubectl logs NAME [-n NAMESPACE]: with -n, the pod or Deployment in that namespace only."""
    if tail < 0:
        raise LabError(f"--tail {tail} is negative", "give how many of the last lines to show, or leave it out")
    if namespace and "/" not in name and name != "gateway":
        name = f"{namespace}/{name}"   # NAMESPACE/NAME: what both backends' logs take
    for line in current_backend(lab_paths()).logs(name, tail=tail, follow=follow):
        ui.console.print(line, markup=False, highlight=False, soft_wrap=True)


def _namespace(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("namespace", "")


def _closest(objects: list[dict], ref: Ref) -> str:
    """'did you mean NAME in namespace NS?', from what the lab holds of that kind."""
    held = {(o["metadata"]["name"], _namespace(o)) for o in objects}
    if not held:
        return f"the lab holds no {ref.kind} yet (`invoke get {ref.kind.lower()}` lists them)"
    if any(name == ref.name for name, _ in held):   # right name, other namespace
        name, where = next((n, ns) for n, ns in sorted(held) if n == ref.name)
    else:
        close = difflib.get_close_matches(ref.name, sorted(n for n, _ in held), n=1, cutoff=0.4)
        if not close:
            return f"`invoke get {ref.kind.lower()}` lists the {kind_of(ref).plural} the lab holds"
        name, where = next((n, ns) for n, ns in sorted(held) if n == close[0])
    return f"did you mean {name}" + (f" in namespace {where}? (-n {where})" if where else "?")


class _NoAliases(yaml.SafeDumper):
    """kubectl never prints YAML anchors (`&id001`, `*id001`); an object that shares a dict prints it twice."""

    def ignore_aliases(self, data):
        return True


def _show(obj: dict, output: str) -> None:
    """-o json and -o yaml as kubectl writes them: plain text, whole lines, whatever the width (so a
    file written by `get` applies back unchanged); with no -o, YAML coloured on a terminal."""
    if output == "json":
        ui.plain(json.dumps(obj, indent=4, ensure_ascii=False))   # kubectl's indent
    elif output == "yaml":
        ui.plain(_yaml(obj))
    else:
        ui.yaml_block(_yaml(obj))


def _yaml(obj: dict) -> str:
    return yaml.dump(obj, Dumper=_NoAliases, sort_keys=False, width=sys.maxsize, allow_unicode=True)


def _show_list(kind: Kind, found: list[dict], namespace: str, output: str) -> None:
    if output:
        return _show({"apiVersion": "v1", "kind": "List", "items": found}, output)
    where = f" in namespace {namespace}" if namespace else ""
    if not found:
        ui.info(f"No {kind.plural}{where} in the lab.")
        return
    if (kind.name, kind.group) == ("Pod", ""):
        return _show_pods(found, all_namespaces=not namespace)
    table = ui.table(*(["namespace"] if kind.namespaced else []), "name", "summary",
                     title=f"{kind.plural}{where}", title_justify="left")
    reached = {(ref.namespace, ref.name): urls for ref, urls in _addresses(kind).items()}
    for obj in found:
        at = reached.get((_namespace(obj), obj["metadata"]["name"]))
        table.add_row(*([_namespace(obj)] if kind.namespaced else []), obj["metadata"]["name"],
                      _summary(obj) + (f"; reached at {', '.join(at)}" if at else ""))
    ui.console.print(table)


def _show_pods(pods: list[dict], all_namespaces: bool) -> None:
    """kubectl's pod columns (NAMESPACE first when the list spans namespaces), borderless as kubectl's."""
    table = ui.table(*(["NAMESPACE"] if all_namespaces else []), "NAME", "READY", "STATUS", "RESTARTS", "AGE",
                     box=None, padding=(0, 3, 0, 0))
    for row in map(pod_row, pods):
        table.add_row(*([row.namespace] if all_namespaces else []), row.name, row.ready, row.status,
                      str(row.restarts), row.age)
    ui.console.print(table)


def _addresses(kind: Kind) -> dict[Ref, list[str]]:
    """Each Gateway API Gateway's listener URLs on this machine (other kinds: none)."""
    if (kind.name, kind.group) != ("Gateway", "gateway.networking.k8s.io"):
        return {}
    found: dict[Ref, list[str]] = {}
    for ref, _, _, url in current_backend(lab_paths()).gateway_addresses():
        found.setdefault(ref, []).append(url)
    return found


def _summary(obj: dict) -> str:
    """A kubectl-like column or two per kind: hosts, gateways, replicas, selectors, subsets."""
    spec = obj.get("spec") or {}
    kind = obj["kind"]
    if kind == "VirtualService":
        return f"hosts {', '.join(spec.get('hosts') or [])}; gateways {', '.join(spec.get('gateways') or ['mesh'])}"
    if kind == "Gateway" and "listeners" in spec:   # the Gateway API's: listeners, as kubectl's columns show them
        listeners = ", ".join(f"{lsn.get('name', '?')} {lsn.get('protocol', '?')}/{lsn.get('port', '?')}"
                              + (f" {lsn['hostname']}" if lsn.get("hostname") else "")
                              for lsn in spec.get("listeners") or [])
        return f"class {spec.get('gatewayClassName', '?')}; listeners {listeners}"
    if kind == "HTTPRoute":
        parents = ", ".join(p.get("name", "?") for p in spec.get("parentRefs") or [])
        return f"hostnames {', '.join(spec.get('hostnames') or ['*'])}; parents {parents}"   # status: get NAME
    if kind == "Gateway":
        return "hosts " + ", ".join(h for server in spec.get("servers") or [] for h in server.get("hosts") or [])
    if kind == "DestinationRule":
        subsets = ", ".join(s.get("name", "?") for s in spec.get("subsets") or [])
        return f"host {spec.get('host', '?')}" + (f"; subsets {subsets}" if subsets else "")
    if kind == "Deployment":
        return f"replicas {spec.get('replicas', 1)}"
    if kind == "Service":
        selector = ", ".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items())
        return f"selector {selector}" if selector else ""
    return ""
