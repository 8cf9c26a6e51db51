"""Reading Kubernetes/Istio YAML the way `kubectl apply -f` does.

Empty documents are skipped, `kind: List` is flattened, and every object must
have apiVersion, kind and metadata.name. Objects are plain dicts; a Ref names one.

Limits, each refused with the reason: the lab stores and re-reads every object
on each apply, so a huge file, an alias bomb (a few lines that expand to
millions of values) or an endless stream (stdin, /dev/zero) would make every
later command slow, or never return.
"""

from dataclasses import dataclass
from pathlib import Path

import yaml

from lab.errors import ManifestError

DEFAULT_NAMESPACE = "default"
MAX_APPLY_BYTES = 1024 * 1024     # the largest exercise file is ~3 KB; Kubernetes caps an object at ~1.5 MB
MAX_VALUES = 20_000               # after YAML aliases are expanded
MAX_DEPTH = 40                    # the deepest field the lab knows is ~10 levels down


@dataclass(frozen=True, order=True)
class Ref:
    kind: str
    namespace: str  # "" for cluster-scoped kinds (Namespace)
    name: str
    # Set only for a group whose kinds reuse names of the lab's first kinds (a Gateway API Gateway is
    # not an Istio Gateway); "" for the rest, so their Refs stay what they always were.
    group: str = ""

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    @property
    def key(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind   # kubectl's kind.group
        return f"{kind}/{self.namespace}/{self.name}"

    @classmethod
    def from_key(cls, key: str) -> "Ref":
        kind, namespace, name = key.split("/", 2)
        kind, _, group = kind.partition(".")
        return cls(kind, namespace, name, group)


CLUSTER_SCOPED = {"Namespace"}
# API groups that Refs spell out (see Ref.group).
NAMED_GROUPS = {"gateway.networking.k8s.io"}


def ref_of(obj: dict) -> Ref:
    kind = obj["kind"]
    meta = obj["metadata"]
    namespace = "" if kind in CLUSTER_SCOPED else meta.get("namespace") or DEFAULT_NAMESPACE
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return Ref(kind, namespace, meta["name"], group if group in NAMED_GROUPS else "")


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; kubectl refuses them ("key ... already set in map"),
    and so does the lab: `weight: 100` then `weight: 50` is a mistake, not a choice."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice in one mapping",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def parse_manifests(text: str, source: str = "<stdin>", allow_empty: bool = False) -> list[dict]:
    """Parse YAML text into objects; a syntax error names the file and line."""
    try:
        docs = list(yaml.load_all(text, Loader=_StrictLoader))
    except RecursionError:
        raise ManifestError(f"{source}: nested too deeply to read", _limits_fix()) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}" if mark else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ManifestError(f"{where}: malformed YAML ({problem})",
                            "fix the indentation or syntax there and apply again") from None
    _check_size(docs, source)
    objects: list[dict] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ManifestError(f"{source}: document {index + 1} is not a mapping",
                                "each YAML document must be one Kubernetes object")
        if doc.get("kind") == "List":
            objects.extend(_checked(item, source) for item in doc.get("items") or [])
        else:
            objects.append(_checked(doc, source))
    if not objects and not allow_empty:
        raise ManifestError(f"{source}: no objects found", "the file holds no Kubernetes objects")
    return objects


# What `kubectl apply -f DIR` reads in a folder (k8s.io/cli-runtime pkg/resource/builder.go FileExtensions).
MANIFEST_EXTENSIONS = (".json", ".yaml", ".yml")


def load_manifest_path(path: str | Path) -> list[dict]:
    """A file's objects, or a folder's as `kubectl apply -f DIR` reads them (cli-runtime
    pkg/resource/visitor.go, ExpandPathsToFileVisitors): its .json, .yaml and .yml files in name
    order (filepath.Walk's lexical order), not its subfolders (no -R), a file without objects
    skipped; all of them together within one apply's size limit."""
    folder = Path(path)
    if not folder.is_dir():
        return load_manifest_file(folder)
    files = sorted((p for p in folder.iterdir() if p.suffix in MANIFEST_EXTENSIONS and p.is_file()),
                   key=lambda p: p.name.encode())
    if not files:
        raise ManifestError(f"{folder}: no .json, .yaml or .yml file in it",
                            "kubectl reads those in a folder (not its subfolders); give a file or another folder")
    objects: list[dict] = []
    size = 0
    for file in files:
        size += file.stat().st_size
        if size > MAX_APPLY_BYTES:
            raise ManifestError(f"{folder}: more than {MAX_APPLY_BYTES // 1024} KB in its files, the most one apply "
                                "takes", f"apply them in smaller groups; {_limits_fix()}")
        objects += load_manifest_file(file, allow_empty=True)
    if not objects:
        raise ManifestError(f"{folder}: no objects found in its files", "the files hold no Kubernetes objects")
    return objects


def load_manifest_file(path: str | Path, allow_empty: bool = False) -> list[dict]:
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_APPLY_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file", "check the path") from None
    except IsADirectoryError:
        raise ManifestError(f"{path} is a folder", "apply the files in it one by one") from None
    except OSError as e:
        raise ManifestError(f"{path}: cannot be read ({e.strerror or e})", "check the path and its permissions") \
            from None
    return parse_manifests(decode_text(data, str(path)), str(path), allow_empty)


def load_manifest_stream(stream, source: str = "<stdin>") -> list[dict]:
    """Objects from a binary stream (stdin), read no further than the size limit."""
    return parse_manifests(decode_text(stream.read(MAX_APPLY_BYTES + 1), source), source)


def decode_text(data: bytes, source: str) -> str:
    if len(data) > MAX_APPLY_BYTES:
        raise ManifestError(f"{source}: more than {MAX_APPLY_BYTES // 1024} KB, the most one apply takes",
                            f"split it into smaller files; {_limits_fix()}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ManifestError(f"{source}: not UTF-8 text (byte {e.start})",
                            "apply a YAML file saved as UTF-8 (is it a binary or another encoding?)") from None


def _limits_fix() -> str:
    return (f"the lab takes at most {MAX_APPLY_BYTES // 1024} KB, {MAX_VALUES} values (aliases expanded) and "
            f"{MAX_DEPTH} levels of nesting per apply, so every later command stays fast")


def _check_size(docs: list, source: str) -> None:
    """Count values as the store would write them (an alias counts each time it is used)."""
    count, stack = 0, [(doc, 1) for doc in docs]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ManifestError(f"{source}: more than {MAX_VALUES} values once YAML aliases are expanded",
                                _limits_fix())
        if depth > MAX_DEPTH:
            raise ManifestError(f"{source}: nested more than {MAX_DEPTH} levels deep", _limits_fix())
        if isinstance(value, dict):
            stack += [(v, depth + 1) for v in value.values()] + [(k, depth + 1) for k in value]
        elif isinstance(value, list):
            stack += [(v, depth + 1) for v in value]


def _checked(obj, source: str) -> dict:
    if not isinstance(obj, dict):
        raise ManifestError(f"{source}: a list item is not a mapping", "each item must be an object")
    missing = [k for k in ("apiVersion", "kind") if not obj.get(k)]
    name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), dict) else None
    if not name:
        missing.append("metadata.name")
    if missing:
        what = obj.get("kind") or "an object"
        raise ManifestError(f"{source}: {what} has no {', '.join(missing)}",
                            "every object needs apiVersion, kind and metadata.name")
    return obj
