"""Rewriting documents stored in an earlier form into the current one.

Two earlier forms are read:

* the *shadow form*: before natural documents, satchel-mongodb stored a value under ``v``
  in a private form (see :mod:`satchel_mongodb.legacy`), and the metadata under ``ver``,
  ``ca``, ``ua`` and ``exp`` (now ``version``, ``created``, ``updated``, ``expires``);
* the *short names*: the first release of natural documents named the rest of the
  metadata briefly: ``ix``, ``ixe``, ``kd``, ``w`` in records and claims (now
  ``index_entries``, ``empty_indexes``, ``key_instant``, ``write_id``), ``lo``, ``n``,
  ``cut``, ``inc``, ``ee``, ``w``, ``cw``, ``c``, ``cat``, ``rs`` in the head of a log and
  ``at`` in its entries (see :data:`HEAD_NAMES` and :data:`ENTRY_NAMES`), with the index
  ``satchel_index`` on ``{ix: 1, _id: 1}`` (now ``satchel_index_entries`` on
  ``{index_entries: 1, _id: 1}``); and ``f`` and ``e`` in the version floors'
  documents (``<prefix>%floors``; now ``floor`` and ``expiry_floors``, see
  :data:`FLOOR_NAMES`).

A collection that still holds such a record, claim or log document is refused by every
query, count, index lookup and write (:class:`LegacyForm`), and so is every read of such a
document, never answered wrongly; :func:`migrate` rewrites those documents in place, one
conditional update each, drops ``satchel_index``, and may run while the collection is in use.

A floor document is never refused: the backend reads both names of a floor (the floor is the
greater of the two, an entry of the expiry floors the greater of its two), so a floor
written by a process of the earlier release, before the upgrade or beside it, always counts.
:func:`migrate` folds the short names into the plain ones (``$max``, filtered on the
document as read), after which only the plain names remain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from pymongo import errors as perr

from satchel.errors import CorruptRecord
from satchel_mongodb.codec import document_bytes, encode
from satchel_mongodb.legacy import decode_shadow

if TYPE_CHECKING:
    from satchel_mongodb.backend import MongoBackend

__all__ = [
    "ENTRY_NAMES",
    "FLOOR_NAMES",
    "HEAD_NAMES",
    "LEGACY",
    "LEGACY_FLOORS",
    "LEGACY_INDEX",
    "RECORD_NAMES",
    "RENAMED",
    "LegacyForm",
    "is_legacy",
    "migrate",
]

#: The metadata fields of the shadow form, and their names now.
RENAMED: Final[dict[str, str]] = {
    "ver": "version",
    "ca": "created",
    "ua": "updated",
    "exp": "expires",
}
#: The short names of a record's (or a claim's) metadata, and their names now.
RECORD_NAMES: Final[dict[str, str]] = {
    "ix": "index_entries",
    "ixe": "empty_indexes",
    "kd": "key_instant",
    "w": "write_id",
}
#: The short names of the fields of a log's head (``seq`` 0), and their names now.
HEAD_NAMES: Final[dict[str, str]] = {
    "lo": "bottom",
    "n": "length",
    "cut": "cuts",
    "inc": "incarnation",
    "ee": "entries_expire",
    "w": "write_id",
    "cw": "cut_write_ids",
    "c": "claim",
    "cat": "claimed_at",
    "rs": "claim_start",
}
#: The short names of the fields of a log's entry (``seq`` 1 or more), and their names now.
ENTRY_NAMES: Final[dict[str, str]] = {"at": "appended"}
#: The short names of the fields of a version floor's document (``<prefix>%floors``), and
#: their names now: the floor, and the expiry floors (``{<entry>: <version>}``, see the
#: backend's ``_floor``).
FLOOR_NAMES: Final[dict[str, str]] = {"f": "floor", "e": "expiry_floors"}
#: The floor documents that hold a short name.
LEGACY_FLOORS: Final[dict[str, Any]] = {"$or": [{name: {"$exists": True}} for name in FLOOR_NAMES]}
#: Attempts at folding a floor document that writers of the earlier release keep changing.
_FOLD_ATTEMPTS: Final = 100
#: Fields only a document in an earlier form has (every such document has one of them:
#: records and claims ``w``, heads ``w``, entries ``at``, the shadow form ``v`` or ``ver``).
_MARKS: Final = ("v", "ver", "w", "ix", "ixe", "kd", "at")
#: The filter of documents (records, claims, log heads and entries) in an earlier form.
LEGACY: Final[dict[str, Any]] = {"$or": [{name: {"$exists": True}} for name in _MARKS]}
#: The index of the short names' form on the index entries.
LEGACY_INDEX: Final = "satchel_index"


def is_legacy(doc: Mapping[str, Any]) -> bool:
    """Whether the stored document ``doc`` (read whole) is in an earlier form."""
    return any(name in doc for name in _MARKS)


class LegacyForm(CorruptRecord):
    """A collection holds records in a form an earlier satchel-mongodb stored."""

    def __init__(self, collection: str) -> None:
        super().__init__(
            f"{collection!r}: holds records stored by an earlier satchel-mongodb (values "
            "under 'v' in its shadow form, or metadata under short names such as 'ver', "
            "'w', 'ix'), which this version does not read; rewrite them "
            "once with `await satchel_mongodb.migrate.migrate(backend)` (docs/mongodb.md, "
            "'Upgrading from an earlier form')"
        )


def _names(doc: Mapping[str, Any]) -> dict[str, str]:
    """The fields of ``doc`` to rename, and their names now."""
    seq = doc.get("seq")
    if seq is None:
        short = RECORD_NAMES
    elif seq == 0:
        short = HEAD_NAMES
    else:
        short = ENTRY_NAMES
    return {old: new for old, new in {**RENAMED, **short}.items() if old in doc}


def _rewrite(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(filter, update)`` rewriting ``doc`` into the current form: the filter names the
    document as read (its key and every field the update renames or removes)."""
    fields: dict[str, Any] = {}
    if "v" in doc:
        value = decode_shadow(doc["v"])
        stored, instants = encode(value)
        fields["value"] = stored
        if instants is not None:
            fields["instants"] = instants
        document_bytes({**doc, **fields}, value, f"value of {doc['_id']!r}")
    renamed = _names(doc)
    for old, new in renamed.items():
        fields[new] = doc[old]
    read = [old for old in ("v", *renamed) if old in doc]
    condition = {"_id": doc["_id"], **{old: doc[old] for old in read}}
    gone = dict.fromkeys(["v", "d", *renamed], "")
    return condition, {"$set": fields, "$unset": gone}


def _is_version(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _fold(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(filter, update)`` folding the short names of the floor document ``doc`` into the
    plain ones: each version raised into its plain name (``$max``), the short names removed;
    the filter names the short names' values as read, so a floor an earlier process raised
    meanwhile is read again, never lost."""
    condition: dict[str, Any] = {"_id": doc["_id"]}
    raised: dict[str, Any] = {}
    for old in FLOOR_NAMES:
        condition[old] = doc.get(old, {"$exists": False})
    if _is_version(doc.get("f")):
        raised["floor"] = doc["f"]
    entries = doc.get("e")
    if isinstance(entries, Mapping):
        for name, version in entries.items():
            if name.isdigit() and _is_version(version):
                raised[f"expiry_floors.{name}"] = version
    update: dict[str, Any] = {"$unset": dict.fromkeys(FLOOR_NAMES, "")}
    if raised:
        update["$max"] = raised
    return condition, update


async def _migrate_floors(backend: MongoBackend, ids: list[str] | None) -> int:
    """Fold the short names of the floor documents ``ids`` (every one when ``None``: the
    floors of dropped collections too) into the plain ones; how many were rewritten."""
    floors = backend.raw_collection(backend.floors_name)
    where = LEGACY_FLOORS if ids is None else {"_id": {"$in": ids}, **LEGACY_FLOORS}
    total = 0
    async for doc in floors.find(where):
        current: Any = doc
        for _ in range(_FOLD_ATTEMPTS):
            condition, update = _fold(current)
            if (await floors.update_one(condition, update)).modified_count == 1:
                total += 1
                break
            # an earlier process raised it meanwhile: read it again
            current = await floors.find_one({"_id": doc["_id"], **LEGACY_FLOORS})
            if current is None:
                break
    return total


async def migrate(backend: MongoBackend, collection: str | None = None) -> int:
    """Rewrite the documents of ``collection`` (of every satchel collection when ``None``)
    stored in an earlier form, drop the earlier form's index, and fold the short names of
    the collection's version floor (of every floor when ``None``) into the plain ones; how
    many documents were rewritten. Each is one update filtered on the document as read, so
    a document written meanwhile is left as its writer wrote it (a floor is read again and
    folded)."""
    if collection is None:
        names = await backend.mongo_collections()
    else:
        names = [(collection, backend.mongo_name(collection))]
    total = await _migrate_floors(backend, None if collection is None else [names[0][1]])
    for name, mongo in names:
        coll = backend.raw_collection(mongo)
        try:
            await coll.drop_index(LEGACY_INDEX)
        except perr.OperationFailure as exc:
            # no such index (27), or no such collection (26)
            if exc.code not in (26, 27) and "not found" not in str(exc).lower():
                raise
        async for doc in coll.find(LEGACY):
            condition, update = _rewrite(doc)
            result = await coll.update_one(condition, update)
            total += result.modified_count
        backend.forget_form(name)
    return total
