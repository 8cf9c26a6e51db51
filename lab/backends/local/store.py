"""The local lab's own records in its run folder, each read through the lab's one typed loader
(lab.files.read_model): objects.json (what is applied) and pending.json (a command between its
first push and its save).

A damaged objects.json is refused and kept, never read as empty: `up` or `apply` would otherwise
write over everything the learner applied.
"""

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lab.files import KEEP, DamagedFile, read_model, write_json
from lab.manifests import Ref, ref_of

OBJECTS_FIX = "repair it, or delete it and apply your manifests again"
PENDING_FIX = "`invoke up` serves the stored objects again and removes it"


class StoredMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1)
    namespace: str = ""


class StoredObject(BaseModel):
    """An object as the lab stored it after validating it: apiVersion, kind and a name at least."""
    model_config = ConfigDict(extra="allow")
    apiVersion: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    metadata: StoredMetadata


def _store_key(key: str) -> str:
    kind, slash, rest = key.partition("/")
    _, slash_2, name = rest.partition("/")   # the namespace is "" for a Namespace
    if not (kind and slash and slash_2 and name and "/" not in name):
        raise ValueError(f"key {key!r} is not KIND/NAMESPACE/NAME")
    return key


StoreKey = Annotated[str, AfterValidator(_store_key)]


class Pending(BaseModel):
    """A command that changes the gateway, from its first push until it saved the objects."""
    pid: int = Field(ge=1)
    since: float


def read_objects(path: Path) -> dict[Ref, dict]:
    """What the local lab holds, by Ref (empty before the first apply)."""
    stored: dict[str, StoredObject] | None = read_model(path, dict[StoreKey, StoredObject], OBJECTS_FIX)
    objects: dict[Ref, dict] = {}
    for key, model in (stored or {}).items():
        obj: dict[str, Any] = model.model_dump(exclude_unset=True, by_alias=True)
        ref = ref_of(obj)
        if ref != Ref.from_key(key):
            raise DamagedFile(f"{path} is damaged (the object under {key!r} is {ref})", f"{OBJECTS_FIX}; {KEEP}")
        objects[ref] = obj
    return objects


def save_objects(path: Path, objects: dict[Ref, dict]) -> None:
    write_json(path, {ref.key: obj for ref, obj in objects.items()})


def read_pending(path: Path) -> Pending | None:
    return read_model(path, Pending, PENDING_FIX)
