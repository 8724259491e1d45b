"""``satchel stats`` and ``satchel purge-expired``: what the stores hold, and the removal of
what has expired."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from satchel.cli.common import open_handle, process_local_hint, store_names
from satchel.cli.output import (
    EPILOG,
    dry_run_option,
    dumps,
    echo_lines,
    json_option,
    run,
    table,
    yes_option,
)
from satchel.cli.root import cli

if TYPE_CHECKING:
    from satchel.handle import Satchel

__all__ = ["STORE_KINDS", "purge_expired", "stats"]

#: The kinds of store ``satchel stats`` reports, in its order: kind -> what it is called.
STORE_KINDS: dict[str, str] = {
    "kv": "KV namespace",
    "task": "task store",
    "session": "session store",
    "log": "log store",
}
_PAGE = 1000


@cli.command("stats", epilog=EPILOG)
@click.option(
    "--bytes",
    "with_bytes",
    is_flag=True,
    help="Also add up the size of the values' JSON (reads every value).",
)
@json_option
def stats(with_bytes: bool, as_json: bool) -> None:
    """What each store of the namespace holds: records, expiring records, and (--bytes) the
    size of the values.

    Every KV namespace, task store and session store that holds a record, and every log
    store (its records are its logs). 'Expiring' counts the records with an expiry time.
    Bytes are the size of the values as compact UTF-8 JSON, not the backend's own storage
    size (no backend reports that per store); log stores show '-' for both.
    """
    run(_stats(with_bytes, as_json), as_json)


async def _store_figures(handle: Satchel, kind: str, name: str, with_bytes: bool) -> dict[str, Any]:
    import json

    from satchel.query import Query
    from satchel.stores.base import collection_name
    from satchel.toolkit import iter_pages

    collection = collection_name(handle.namespace, kind, name)
    figures: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "records": 0,
        "expiring": None,
        "bytes": None,
    }
    if kind == "log":
        async for _ in handle.backend.log_keys(collection):
            figures["records"] += 1
        return figures
    figures["expiring"] = 0
    if with_bytes:
        figures["bytes"] = 0
    select = None if with_bytes else ()
    async for page in iter_pages(
        lambda cursor: handle.backend.query(
            collection, Query(select=select, limit=_PAGE, cursor=cursor)
        )
    ):
        for record in page.items:
            figures["records"] += 1
            if record.expires_at is not None:
                figures["expiring"] += 1
            if with_bytes:
                text = json.dumps(record.value, ensure_ascii=False, separators=(",", ":"))
                figures["bytes"] += len(text.encode("utf-8"))
    return figures


async def _stats(with_bytes: bool, as_json: bool) -> None:
    async with open_handle() as handle:
        found: list[dict[str, Any]] = []
        for kind in STORE_KINDS:
            for name in await store_names(handle, kind):
                found.append(await _store_figures(handle, kind, name, with_bytes))
        namespace, hint = handle.namespace, process_local_hint(handle)
        backend = handle.raw_backend.describe()
    if as_json:
        click.echo(dumps({"backend": backend, "namespace": namespace, "stores": found}))
        return
    click.echo(f"namespace {namespace!r} on {backend}")
    if not found:
        click.echo(f"no store holds a record{hint}")
        return

    def figure(value: Any) -> str:
        return "-" if value is None else str(value)

    rows = [
        [
            f["kind"],
            f["name"],
            str(f["records"]),
            figure(f["expiring"]),
            *([figure(f["bytes"])] if with_bytes else []),
        ]
        for f in found
    ]
    header = ["KIND", "NAME", "RECORDS", "EXPIRING", *(["BYTES"] if with_bytes else [])]
    echo_lines(table(rows, header, right=range(2, len(header)), indent=""))
    total = sum(f["records"] for f in found)
    stores = f"{len(found)} store{'' if len(found) == 1 else 's'}"
    click.echo(f"{total} record{'' if total == 1 else 's'} in {stores}")


@cli.command("purge-expired", epilog=EPILOG)
@yes_option
@dry_run_option
@json_option
def purge_expired(yes: bool, dry_run: bool, as_json: bool) -> None:
    """Remove expired records and logs from the backend now (Backend.purge_expired); asks
    for confirmation unless --yes.

    Expired records already read as absent everywhere; this frees their space at once
    instead of when the backend would (a backend with native expiry, such as Redis, may
    have nothing left to remove). It covers the whole backend, every namespace. --dry-run
    says what it would do and removes nothing (no backend can count its expired records
    without removing them).
    """
    run(_purge_expired(yes, dry_run, as_json), as_json)


async def _purge_expired(yes: bool, dry_run: bool, as_json: bool) -> None:
    from satchel.cli.output import confirm

    async with open_handle() as handle:
        backend = handle.raw_backend.describe()
        purged: int | None = None
        if not dry_run:
            confirm(
                f"Remove every expired record and log of {backend} (every namespace)?",
                yes=yes,
                as_json=as_json,
            )
            purged = await handle.purge_expired()
    if as_json:
        click.echo(dumps({"backend": backend, "dry_run": dry_run, "purged": purged}))
    elif purged is None:
        click.echo(f"would remove every expired record and log of {backend}")
    else:
        click.echo(f"removed {purged} expired record{'' if purged == 1 else 's'} from {backend}")
