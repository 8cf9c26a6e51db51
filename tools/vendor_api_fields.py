"""Write cluster/api-fields.json: the fields real Istio and Kubernetes have for the kinds the local lab
accepts, and the kinds each API group has, so the lab can tell a typo (no API has it) from a field only
a cluster supports. Run it again when a pinned version changes:

    python tools/vendor_api_fields.py ISTIO_CHECKOUT GATEWAY_API_CHECKOUT

ISTIO_CHECKOUT is istio/istio at the pinned release branch (its
manifests/charts/base/files/crd-all.gen.yaml), GATEWAY_API_CHECKOUT kubernetes-sigs/gateway-api at the
pinned tag (config/crd/*/ for the names of its kinds; the lab reads its vendored standard CRDs in
cluster/gateway-api/ for their fields). Kubernetes' built-in kinds come from its OpenAPI schemas at the
clusters' minor, as the kubernetes-validate package ships them (a test dependency).

A field tree uses lab/api_fields.py's leaves: a type ("string", "duration", "integer", "number",
"boolean", "int-or-string"; "scalar" for other types or none), "map" (any keys), [item], {name: tree}.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from lab.api_fields import crd_tree, leaf
from lab.backends.cluster.versions import GATEWAY_API, ISTIO, KUBERNETES_MINOR

OUTPUT = PROJECT_DIR / "cluster" / "api-fields.json"
ISTIO_CRDS = "manifests/charts/base/files/crd-all.gen.yaml"
ISTIO_KINDS = ("Gateway", "VirtualService", "DestinationRule")   # the Istio kinds the local lab accepts
KUBERNETES_KINDS = {"Namespace": "io.k8s.api.core.v1.Namespace", "Service": "io.k8s.api.core.v1.Service",
                    "Deployment": "io.k8s.api.apps.v1.Deployment"}
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def openapi_tree(schema: dict, definitions: dict, seen: tuple[str, ...] = ()) -> Any:
    """A Kubernetes OpenAPI schema (with $refs into `definitions`) as a field tree."""
    ref = schema.get("$ref") or next((s["$ref"] for s in schema.get("allOf") or [] if "$ref" in s), None)
    if ref:
        name = ref.rpartition("/")[2]
        if name in seen:   # a recursive type (none in the lab's kinds today): any fields below
            return "map"
        return openapi_tree(definitions[name], definitions, (*seen, name))
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    one_of = {t for choice in schema.get("oneOf") or [] for t in choice.get("type") or [] if t != "null"}
    if one_of == {"string", "integer"}:   # IntOrString
        return "int-or-string"
    if "array" in types:
        return [openapi_tree(schema.get("items") or {}, definitions, seen)]
    if "properties" in schema:
        return {n: openapi_tree(c, definitions, seen) for n, c in sorted(schema["properties"].items())}
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        item = openapi_tree(extra, definitions, seen)
        return "map" if isinstance(item, str) and item != "map" else {"*": item}
    return "map" if "object" in types else leaf(types)


def kubernetes_schemas() -> tuple[Path, dict]:
    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / \
        f"v{KUBERNETES_MINOR[0]}.{KUBERNETES_MINOR[1]}.0-local-strict"
    return folder, json.loads((folder / "_definitions.json").read_text())["$defs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("istio", type=Path)
    parser.add_argument("gateway_api", type=Path)
    args = parser.parse_args()
    folder, definitions = kubernetes_schemas()
    fields: dict[str, Any] = {}
    kinds: dict[str, set[str]] = {}
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind") or []:
            if not name.startswith("io.k8s.apimachinery"):   # (its kinds, DeleteOptions and such, are no objects)
                kinds.setdefault(gvk["group"], set()).add(gvk["kind"])
    for kind, name in KUBERNETES_KINDS.items():
        fields[kind] = openapi_tree(definitions[name], definitions)
    for crd in yaml.safe_load_all((args.istio / ISTIO_CRDS).read_text()):
        if not crd:
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        kinds.setdefault(group, set()).add(kind)
        if kind in ISTIO_KINDS and group == "networking.istio.io":
            storage = next(v for v in crd["spec"]["versions"] if v.get("storage"))
            fields[kind] = {"apiVersion": "string", "kind": "string", "metadata": fields["Namespace"]["metadata"],
                            **{k: crd_tree(v) for k, v in storage["schema"]["openAPIV3Schema"]["properties"].items()
                               if k not in ("apiVersion", "kind", "metadata")}}
    for path in sorted((args.gateway_api / "config" / "crd").glob("*/*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if isinstance(crd, dict) and crd.get("kind") == "CustomResourceDefinition":
                kinds.setdefault(crd["spec"]["group"], set()).add(crd["spec"]["names"]["kind"])
    data = {
        "about": "Fields and kinds real APIs have, for telling a typo from what only a cluster supports. "
                 "Written by tools/vendor_api_fields.py; do not edit.",
        "sources": {
            "istio": f"istio/istio {ISTIO} ({ISTIO_CRDS}, storage versions)",
            "kubernetes": f"Kubernetes v{KUBERNETES_MINOR[0]}.{KUBERNETES_MINOR[1]}.0 OpenAPI schemas, as "
                          f"kubernetes-validate {kubernetes_validate.__version__} ships them ({folder.name})",
            "gateway-api": f"kubernetes-sigs/gateway-api {GATEWAY_API} (config/crd/standard and experimental: "
                           "kinds only; fields from the vendored cluster/gateway-api/ CRDs)",
        },
        "kinds": {group: sorted(names) for group, names in sorted(kinds.items())},
        "fields": fields,
    }
    OUTPUT.write_text(json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n")
    print(f"wrote {OUTPUT.relative_to(PROJECT_DIR)} ({OUTPUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
