"""Reading Kubernetes/Istio YAML the way `kubectl apply -f` does.

Empty documents are skipped, `kind: List` is flattened, and every object must
have apiVersion, kind and metadata.name. Objects are plain dicts; a Ref names one.

Limits, each refused with the reason: the lab stores and re-reads every object
on each apply, so a huge file, an alias bomb (a few lines that expand to
millions of values) or an endless stream (stdin, /dev/zero) would make every
later command slow, or never return.
"""

import stat
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


def creation_order(ref: Ref, obj: dict) -> tuple[str, str, str]:
    """istiod's order for objects that merge (pilot/pkg/model sortConfigByCreationTime, and for
    DestinationRules without a workloadSelector sortConfigBySelectorAndCreationTime): oldest first,
    then name, then namespace; one not created yet (what an apply is predicted to make) is the newest."""
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "~"), ref.name, ref.namespace


class _StrictLoader(yaml.SafeLoader):
    """YAML as kubectl reads it (sigs.k8s.io/yaml over go-yaml): two equal keys in one mapping are
    an error ("key ... already set in map"), so `weight: 100` then `weight: 50` is a mistake, not a
    choice; a key that is a list or mapping is refused; dates stay text (into an untyped value
    go-yaml gives a date as its text)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key is a list or a mapping; Kubernetes takes text, number or "
                    "true/false keys", key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice in one mapping",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_text(self, node: yaml.Node) -> str:
        return str(self.construct_scalar(node))   # type: ignore[arg-type]

    def construct_not_json(self, node):
        raise yaml.constructor.ConstructorError(None, None, f"{node.tag} values have no JSON form, so "
                                                "Kubernetes takes none", node.start_mark)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_text)
for _tag in ("binary", "set", "omap", "pairs"):
    _StrictLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _StrictLoader.construct_not_json)
# Plain dates are text, as go-yaml leaves them in an untyped value (no implicit timestamp resolver).
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def load_documents(text: str, source: str) -> list:
    """The YAML documents of `text` as JSON values, within the lab's limits; a syntax error names
    the file and line. Shared by manifests and patches: every path that changes objects reads YAML here."""
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
    check_limits(docs, source)
    return [_json_keys(doc, source) for doc in docs]


def parse_manifests(text: str, source: str = "<stdin>", allow_empty: bool = False) -> list[dict]:
    """Parse YAML text into objects; a syntax error names the file and line."""
    objects: list[dict] = []
    for index, doc in enumerate(load_documents(text, source)):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ManifestError(f"{source}: document {index + 1} is not a mapping",
                                "each YAML document must be one Kubernetes object")
        if doc.get("kind") == "List":
            items = doc.get("items")
            if not isinstance(items, list | None):
                raise ManifestError(f"{source}: document {index + 1} is a List whose items is "
                                    f"{type(items).__name__}, not a list", "write items as a list of objects")
            objects.extend(checked_object(item, source) for item in items or [])
        else:
            objects.append(checked_object(doc, source))
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
    return parse_manifests(decode_text(read_bounded(path, "apply the YAML files in it one by one"), str(path)),
                           str(path), allow_empty)


def read_bounded(path: Path, folder_fix: str) -> bytes:
    """A file's bytes, no further than the size limit (an endless /dev/zero too). A named pipe or
    socket is refused before it is opened: opening one waits for a writer, with no word said."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file", "check the path") from None
    except OSError as e:
        raise ManifestError(f"{path}: cannot be read ({e.strerror or e})", "check the path and its permissions") \
            from None
    if stat.S_ISDIR(mode):
        raise ManifestError(f"{path} is a folder", folder_fix)
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise ManifestError(f"{path} is a named pipe or socket, not a file",
                            "save it to a file first, or pipe it in with `-` (e.g. `... | invoke apply -`)")
    try:
        with path.open("rb") as f:
            return f.read(MAX_APPLY_BYTES + 1)
    except OSError as e:
        raise ManifestError(f"{path}: cannot be read ({e.strerror or e})", "check the path and its permissions") \
            from None


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


@dataclass
class Measure:
    """How big a value is as the store writes it: values (each key too), deepest level, characters."""
    values: int = 0
    depth: int = 0
    chars: int = 0

    def within_limits(self) -> bool:
        return self.values <= MAX_VALUES and self.depth <= MAX_DEPTH and self.chars <= MAX_APPLY_BYTES


def measure(roots: list, stop_past_limits: bool = True) -> Measure:
    """Count `roots` (documents, objects) as the store would write them (an alias counts each time
    it is used); stops once a limit is passed, so an alias bomb costs no more than the limit."""
    size, stack = Measure(), [(root, 1) for root in roots]
    while stack:
        item, depth = stack.pop()
        size.values += 1
        size.depth = max(size.depth, depth)
        size.chars += len(item) if isinstance(item, str) else 8
        if stop_past_limits and not size.within_limits():
            break
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()] + [(k, depth + 1) for k in item]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]
    return size


def check_limits(roots: list, source: str) -> None:
    """The lab's limits on what one command may store (`roots`: its documents or objects), refused
    with the reason, on every path that changes objects (apply, patch, helm, delete -f, exercise steps)."""
    size = measure(roots)
    if size.values > MAX_VALUES:
        raise ManifestError(f"{source}: more than {MAX_VALUES} values once YAML aliases are expanded",
                            _limits_fix())
    if size.depth > MAX_DEPTH:
        raise ManifestError(f"{source}: nested more than {MAX_DEPTH} levels deep", _limits_fix())
    if size.chars > MAX_APPLY_BYTES:
        raise ManifestError(f"{source}: more than {MAX_APPLY_BYTES // 1024} KB of text once YAML aliases are "
                            "expanded", _limits_fix())


def _json_keys(value: object, source: str) -> object:
    """Mapping keys as text, the way sigs.k8s.io/yaml turns YAML into JSON (yaml.go,
    convertToJSONableObject: numbers and true/false become their text); depth is within the limits here."""
    if isinstance(value, list):
        return [_json_keys(item, source) for item in value]
    if not isinstance(value, dict):
        return value
    converted: dict[str, object] = {}
    for key, item in value.items():
        text = _key_text(key, source)
        if text in converted:
            raise ManifestError(f"{source}: key {text!r} appears twice in one mapping (once as {key!r})",
                                "keep one of them")
        converted[text] = _json_keys(item, source)
    return converted


def _key_text(key: object, source: str) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float):
        return {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}.get(repr(key), f"{key:g}")
    if key is None:   # sigs.k8s.io/yaml: "unsupported map key of type: <nil>"
        raise ManifestError(f"{source}: a mapping key is null (`~:` or `null:`); Kubernetes takes text, number or "
                            "true/false keys", "quote the key if it is meant as text: \"null\":")
    return str(key)


def checked_object(obj: object, source: str) -> dict:
    if not isinstance(obj, dict):
        raise ManifestError(f"{source}: a list item is not a mapping", "each item must be an object")
    missing = [k for k in ("apiVersion", "kind") if not obj.get(k)]
    name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), dict) else None
    if not name:
        missing.append("metadata.name")
    if missing:
        what = obj.get("kind") if isinstance(obj.get("kind"), str) and obj.get("kind") else "an object"
        raise ManifestError(f"{source}: {what} has no {', '.join(missing)}",
                            "every object needs apiVersion, kind and metadata.name")
    for field in ("apiVersion", "kind"):
        if not isinstance(obj[field], str):
            raise ManifestError(f"{source}: {field} is {obj[field]!r}, not text",
                                f"write {field} as one word, e.g. kind: Service, apiVersion: v1")
    return obj
