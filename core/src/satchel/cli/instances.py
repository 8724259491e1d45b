"""``satchel instances``: create, list, show, rename and delete instances, the named,
described containers of KV namespaces of :class:`~satchel.stores.instances.InstanceStore`
(docs/instances.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from satchel.cli.common import open_handle, process_local_hint, remove_one
from satchel.cli.output import (
    EPILOG,
    clip,
    dry_run_option,
    dumps,
    echo_lines,
    json_option,
    printable,
    run,
    table,
    when,
    yes_option,
)
from satchel.cli.root import cli

if TYPE_CHECKING:
    from satchel.handle import Satchel
    from satchel.stores.instances import Instance

__all__ = ["instances"]


@cli.group(epilog=EPILOG)
def instances() -> None:
    """Create, list, show, rename and delete instances: named, described containers of KV
    namespaces, each a tenant of its own (docs/instances.md)."""


def _document(instance: Instance, counts: dict[str, int] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": instance.id,
        "name": instance.name,
        "description": instance.description,
        "tenant": instance.tenant,
        "version": instance.version,
        "created_at": instance.created_at,
        "updated_at": instance.updated_at,
        "deleting": instance.deleting,
    }
    if counts is not None:
        document["namespaces"] = counts
        document["records"] = sum(counts.values())
    return document


async def _required(handle: Satchel, instance_id: str) -> Instance:
    from satchel.errors import NotFound

    found = await handle.instances().get(instance_id)
    if found is None:
        raise NotFound(
            f"no instance {instance_id!r} in namespace {handle.namespace!r}"
            + process_local_hint(handle)
        )
    return found


def _print(document: dict[str, Any]) -> None:
    rows = [
        ["id", document["id"]],
        ["name", document["name"]],
        ["description", document["description"] or "-"],
        ["tenant", document["tenant"]],
        ["version", str(document["version"])],
        ["created", when(document["created_at"])],
        ["updated", when(document["updated_at"])],
    ]
    if document["deleting"]:
        rows.append(["state", "being deleted: `satchel instances rm` finishes it"])
    if "records" in document:
        rows.append(["records", str(document["records"])])
    echo_lines(table(rows, indent=""))
    for name, count in document.get("namespaces", {}).items():
        click.echo(f"  {printable(name)}: {count}")


@instances.command("create", epilog=EPILOG)
@click.argument("name")
@click.option("--description", "-d", default="", help="What the instance is for.")
@json_option
def instances_create(name: str, description: str, as_json: bool) -> None:
    """Create an instance named NAME (names need not be unique; the id, generated, is the
    instance's for good)."""
    run(_create(name, description, as_json), as_json)


async def _create(name: str, description: str, as_json: bool) -> None:
    async with open_handle() as handle:
        instance = await handle.instances().create(name, description)
    if as_json:
        click.echo(dumps(_document(instance)))
    else:
        click.echo(f"created instance {instance.id} ({instance.name!r})")


@instances.command("ls", epilog=EPILOG)
@json_option
def instances_ls(as_json: bool) -> None:
    """List the instances, oldest first, with their record counts."""
    run(_ls(as_json), as_json)


async def _ls(as_json: bool) -> None:
    async with open_handle() as handle:
        store = handle.instances()
        found = await store.list()
        documents = [
            {**_document(i), "records": await store.count(i.id) if not i.deleting else None}
            for i in found
        ]
        namespace = handle.namespace
    if as_json:
        click.echo(dumps({"namespace": namespace, "instances": documents}))
        return
    rows = [
        [
            d["id"],
            clip(d["name"], 30),
            "-" if d["records"] is None else str(d["records"]),
            when(d["updated_at"]),
            clip(d["description"] or "-", 40) + (" (being deleted)" if d["deleting"] else ""),
        ]
        for d in documents
    ]
    if rows:
        echo_lines(table(rows, ["ID", "NAME", "RECORDS", "UPDATED", "DESCRIPTION"], right=[2]))
    click.echo(f"{len(rows)} instance{'' if len(rows) == 1 else 's'}")


@instances.command("show", epilog=EPILOG)
@click.argument("instance_id")
@json_option
def instances_show(instance_id: str, as_json: bool) -> None:
    """Show one instance with a record count per namespace (exit 1 when there is none)."""
    run(_show(instance_id, as_json), as_json)


async def _show(instance_id: str, as_json: bool) -> None:
    async with open_handle() as handle:
        instance = await _required(handle, instance_id)
        counts = None if instance.deleting else await handle.instances().counts(instance_id)
    document = _document(instance, counts)
    if as_json:
        click.echo(dumps(document))
    else:
        _print(document)


@instances.command("update", epilog=EPILOG)
@click.argument("instance_id")
@click.option("--name", help="The new name.")
@click.option("--description", "-d", help="The new description.")
@click.option(
    "--expected-version",
    type=click.IntRange(min=1),
    help="Change it only if it is at this version (else exit 5, nothing changed).",
)
@json_option
def instances_update(
    instance_id: str,
    name: str | None,
    description: str | None,
    expected_version: int | None,
    as_json: bool,
) -> None:
    """Rename an instance or change its description (its data stays where it is)."""
    run(_update(instance_id, name, description, expected_version, as_json), as_json)


async def _update(
    instance_id: str,
    name: str | None,
    description: str | None,
    expected_version: int | None,
    as_json: bool,
) -> None:
    async with open_handle() as handle:
        await _required(handle, instance_id)
        instance = await handle.instances().update(
            instance_id, name=name, description=description, expected_version=expected_version
        )
    if as_json:
        click.echo(dumps(_document(instance)))
    else:
        click.echo(f"updated instance {instance.id} (version {instance.version})")


@instances.command("rm", epilog=EPILOG)
@click.argument("instance_id")
@click.option(
    "--expected-version",
    type=click.IntRange(min=1),
    help="Delete it only if it is at this version (else exit 5, nothing removed).",
)
@yes_option
@dry_run_option
@json_option
def instances_rm(
    instance_id: str, expected_version: int | None, yes: bool, dry_run: bool, as_json: bool
) -> None:
    """Delete an instance with everything in it (exit 1 when there is none).

    Asks for confirmation unless --yes; --dry-run shows what it holds. The version deleted
    is the one shown (or --expected-version): an instance changed in between is left alone,
    with exit 5. An instance whose delete was interrupted is deleted again.
    """
    run(_rm(instance_id, expected_version, yes, dry_run, as_json), as_json)


async def _rm(
    instance_id: str, expected_version: int | None, yes: bool, dry_run: bool, as_json: bool
) -> None:
    async with open_handle() as handle:
        store = handle.instances()
        found = await store.get(instance_id)
        if found is None and expected_version is None and instance_id in await store.orphans():
            await _rm_orphan(handle, instance_id, yes, dry_run, as_json)
            return
        counts = {} if found is None or found.deleting else await store.counts(instance_id)
        # what the delete drops: every store of its tenant (tasks, sessions, logs, nested
        # instances too), not only the KV namespaces ``counts`` lists
        records = 0 if found is None else await _held(handle, instance_id)
        version = None if found is None else found.version
        name = "" if found is None else f" ({found.name!r})"
        await remove_one(
            version=version,
            expected_version=expected_version,
            missing=f"no instance {instance_id!r} in namespace {handle.namespace!r}"
            + process_local_hint(handle),
            subject=f"instance {instance_id!r}",
            shown=f"instance {instance_id}{name} (version {version}) and its {records} records",
            delete=lambda v: store.delete(instance_id, expected_version=v),
            document={
                "namespace": handle.namespace,
                "id": instance_id,
                "version": version,
                "namespaces": counts,
                "records": records,
            },
            flag="removed",
            verb="remove",
            dry_run=dry_run,
            yes=yes,
            as_json=as_json,
        )


async def _held(handle: Satchel, instance_id: str) -> int:
    """How many records and logs the collections of instance ``instance_id`` hold: what
    :meth:`~satchel.stores.instances.InstanceStore.delete` removes."""
    from satchel.stores.instances import instance_of

    held = 0
    for collection in await handle.backend.collections():
        if instance_of(handle.namespace, collection) != instance_id:
            continue
        if collection.split(":", 2)[1] == "log":
            async for _ in handle.backend.log_keys(collection):
                held += 1
        else:
            held += await handle.backend.count(collection)
    return held


async def _rm_orphan(
    handle: Satchel, instance_id: str, yes: bool, dry_run: bool, as_json: bool
) -> None:
    """Remove the data an instance left after its catalogue record was deleted (written
    through a store taken before the delete)."""
    from satchel.cli.output import confirm
    from satchel.stores.instances import instance_of

    store = handle.instances()
    collections = [
        c
        for c in await handle.backend.collections()
        if instance_of(handle.namespace, c) == instance_id
    ]
    shown = f"the data left by deleted instance {instance_id} ({len(collections)} collections)"
    document: dict[str, Any] = {
        "namespace": handle.namespace,
        "id": instance_id,
        "version": None,
        "orphan": True,
        "collections": collections,
        "dry_run": dry_run,
        "removed": False,
    }
    if not dry_run:
        confirm(f"Remove {shown}?", yes=yes, as_json=as_json)
        await store.delete(instance_id)
        document["removed"] = True
    if as_json:
        click.echo(dumps(document))
    else:
        click.echo(f"would remove {shown}" if dry_run else f"removed {shown}")


@instances.command("orphans", epilog=EPILOG)
@json_option
def instances_orphans(as_json: bool) -> None:
    """List the ids of deleted instances that still hold data (written through a store
    taken before the delete); `satchel instances rm ID` removes it."""
    run(_orphans(as_json), as_json)


async def _orphans(as_json: bool) -> None:
    async with open_handle() as handle:
        ids = await handle.instances().orphans()
        namespace = handle.namespace
    if as_json:
        click.echo(dumps({"namespace": namespace, "orphans": ids}))
        return
    for instance_id in ids:
        click.echo(instance_id)
