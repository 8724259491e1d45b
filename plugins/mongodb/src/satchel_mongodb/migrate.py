"""Rewriting records stored in the earlier form into natural documents.

Before natural documents, satchel-mongodb stored a value under ``v`` in a private *shadow*
form (see :mod:`satchel_mongodb.legacy`), and the metadata under ``ver``, ``ca``, ``ua`` and
``exp`` (now ``version``, ``created``, ``updated``, ``expires``). A collection that still
holds such a document is refused by every query, count and write (:class:`LegacyForm`),
never answered wrongly; :func:`migrate` rewrites those documents in place, one conditional
update each, and may run while the collection is in use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from satchel.errors import CorruptRecord
from satchel_mongodb.codec import document_bytes, encode
from satchel_mongodb.legacy import decode_shadow

if TYPE_CHECKING:
    from satchel_mongodb.backend import MongoBackend

__all__ = ["LEGACY", "LegacyForm", "migrate"]

#: The filter of documents (records, claims, log heads and entries) in the earlier form.
LEGACY: dict[str, Any] = {"$or": [{"v": {"$exists": True}}, {"ver": {"$exists": True}}]}
#: The metadata fields of the earlier form, and their names now.
RENAMED: dict[str, str] = {"ver": "version", "ca": "created", "ua": "updated", "exp": "expires"}


class LegacyForm(CorruptRecord):
    """A collection holds records in the form satchel-mongodb stored before natural
    documents."""

    def __init__(self, collection: str) -> None:
        super().__init__(
            f"{collection!r}: holds records stored by an earlier satchel-mongodb (values "
            "under 'v' in its shadow form, metadata under 'ver', 'ca', 'ua', 'exp'), which "
            "this version does not read; rewrite them "
            "once with `await satchel_mongodb.migrate.migrate(backend)` (docs/mongodb.md, "
            "'Upgrading from the shadow form')"
        )


async def migrate(backend: MongoBackend, collection: str | None = None) -> int:
    """Rewrite the documents of ``collection`` (of every satchel collection when ``None``)
    stored in the earlier form; how many were rewritten. Each is one update filtered on the
    document as read, so a record written meanwhile is left as its writer wrote it."""
    if collection is None:
        names = await backend.mongo_collections()
    else:
        names = [(collection, backend.mongo_name(collection))]
    total = 0
    for name, mongo in names:
        coll = backend.raw_collection(mongo)
        async for doc in coll.find(LEGACY):
            fields: dict[str, Any] = {}
            if "v" in doc:
                value = decode_shadow(doc["v"])
                stored, instants = encode(value)
                fields["value"] = stored
                if instants is not None:
                    fields["instants"] = instants
                document_bytes({**doc, **fields}, value, f"value of {doc['_id']!r}")
            for old, new in RENAMED.items():
                if old in doc:
                    fields[new] = doc[old]
            condition = {"_id": doc["_id"], **{old: doc[old] for old in ("v", "ver") if old in doc}}
            result = await coll.update_one(
                condition,
                {"$set": fields, "$unset": {"v": "", "d": "", **dict.fromkeys(RENAMED, "")}},
            )
            total += result.modified_count
        backend.forget_form(name)
    return total
