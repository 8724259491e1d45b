"""satchel.transfer on the memory backend: copy, export and import keep every record with
its metadata; an interrupted copy run again finishes the job; bad files write nothing."""

from __future__ import annotations

import asyncio
import gzip
import io
import itertools
import json
import os
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import satchel
from satchel import transfer
from satchel.backend import Backend, Record
from satchel.errors import BackendUnavailable, InvalidArgument, Unsupported
from satchel.testing.restore import assert_restored, assert_same_records, records_of
from satchel_memory import MemoryBackend


class Note(BaseModel):
    text: str


async def fill(handle: satchel.Satchel, count: int = 23) -> None:
    """KV records with indexes and expiries, tasks, sessions, and a log, over a few
    versions each."""
    users = handle.kv("users", indexes={"team": lambda v: [v["team"]]})
    for i in range(count):
        await users.set(f"u{i:03d}", {"team": f"t{i % 3}", "n": i})
        if i % 4 == 0:
            await users.set(f"u{i:03d}", {"team": f"t{i % 3}", "n": -i}, ttl=3600)
    await users.delete("u001")  # the namespace's floor rises
    cache = handle.kv("cache", ttl=timedelta(hours=2))
    await cache.set_many({f"c{i}": [i, str(i)] for i in range(7)})
    sessions = handle.sessions(Note)
    await sessions.save("s1", Note(text="hello"))
    await sessions.save("s1", Note(text="hello again"))
    chat = handle.logs("chat")
    await chat.append("room", [{"m": 1}, {"m": 2}])


async def assert_same_data(
    source: satchel.Satchel, target: satchel.Satchel, namespaces: list[str]
) -> int:
    """Every record of ``namespaces`` reads back identical on both sides; how many."""
    return await assert_same_records(
        source.backend, f"{source.namespace}:", target.backend, f"{target.namespace}:", namespaces
    )


async def names(handle: satchel.Satchel) -> list[str]:
    """The handle's collections, named as satchel.transfer names them."""
    prefix = f"{handle.namespace}:"
    return [c[len(prefix) :] for c in await handle.backend.collections()]


RECORD_NAMESPACES = ["kv:cache", "kv:users", "session:sessions"]


@pytest.fixture
async def source() -> Any:
    async with satchel.open(backend="memory") as handle:
        await fill(handle)
        yield handle


@pytest.fixture
async def target() -> Any:
    async with satchel.open(backend="memory") as handle:
        yield handle


async def test_copy_keeps_every_record_with_its_metadata(
    source: satchel.Satchel, target: satchel.Satchel
) -> None:
    events: list[transfer.Progress] = []
    report = await transfer.copy(source, target, batch_size=4, progress=events.append)
    assert sorted(report.records) == RECORD_NAMESPACES
    assert report.skipped == ["log:chat"]
    assert report.total == 22 + 7 + 1
    assert await assert_same_data(source, target, RECORD_NAMESPACES) == report.total
    assert await names(target) == RECORD_NAMESPACES, "logs are not copied"
    # progress: after each batch, counting up to the total counted at the start
    assert events[-1].done == report.total
    assert all(e.expected == report.total for e in events)
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert max(e.done - d.done for d, e in itertools.pairwise(events)) <= 4
    # the stores read the copies as they read the originals
    users = target.kv("users", indexes={"team": lambda v: [v["team"]]})
    found = await users.find("team", "t1")
    assert [(e.key, e.value, e.version) for e in found] == [
        (e.key, e.value, e.version)
        for e in await source.kv("users", indexes={"team": lambda v: [v["team"]]}).find(
            "team", "t1"
        )
    ]
    assert len(found) == 7
    entry = await users.get_entry("u004")
    assert entry is not None
    assert entry.version == 2
    assert await users.set("u004", {"team": "t1", "n": 0}) == 3
    assert (await target.sessions(Note).load("s1")) == Note(text="hello again")


async def test_copy_of_named_namespaces_only(
    source: satchel.Satchel, target: satchel.Satchel
) -> None:
    report = await transfer.copy(source, target, ["kv:cache", "log:chat"])
    assert report.records == {"kv:cache": 7}
    assert report.skipped == ["log:chat"]
    assert await names(target) == ["kv:cache"]


async def test_a_dry_run_counts_and_writes_nothing(
    source: satchel.Satchel, target: satchel.Satchel
) -> None:
    report = await transfer.copy(source, target, dry_run=True, verify=True)
    assert report.dry_run
    assert report.total == 30
    assert report.source is None
    assert await names(target) == []


async def test_verify_compares_counts_and_checksums(
    source: satchel.Satchel, target: satchel.Satchel
) -> None:
    report = await transfer.copy(source, target, verify=True)
    assert report.mismatched == []
    assert report.source == report.target
    assert report.source is not None
    assert report.source["kv:users"].records == 22
    # one record changed on one side: the summaries differ
    await target.kv("users").set("u002", {"team": "t2", "n": 2})
    collection = f"{target.namespace}:kv:users"
    changed = await transfer.summarize(target.backend, collection)
    assert changed.records == 22
    assert changed.checksum != report.target["kv:users"].checksum  # type: ignore[index]


class Interrupted(Exception):
    pass


async def test_an_interrupted_copy_run_again_finishes_the_job(
    source: satchel.Satchel, target: satchel.Satchel
) -> None:
    seen = []

    def stop_after_three_batches(event: transfer.Progress) -> None:
        seen.append(event)
        if len(seen) == 5:  # the namespace's start, then batches
            raise Interrupted

    with pytest.raises(Interrupted):
        await transfer.copy(source, target, batch_size=3, progress=stop_after_three_batches)
    partial = 0
    for name in RECORD_NAMESPACES:
        partial += len(await records_of(target.backend, f"{target.namespace}:{name}"))
    assert 0 < partial < 30
    report = await transfer.copy(source, target, batch_size=3, verify=True)
    assert report.mismatched == []
    assert await assert_same_data(source, target, RECORD_NAMESPACES) == 30


class CrashesMidBatch(MemoryBackend):
    """Restores half the records of its third call, then fails, as a server lost mid-call
    would."""

    calls = 0

    async def restore_many(self, records: Sequence[Record]) -> None:
        self.calls += 1
        if self.calls == 3:
            await super().restore_many(records[: len(records) // 2])
            raise BackendUnavailable("the server went away")
        await super().restore_many(records)


async def test_a_copy_that_failed_inside_a_batch_run_again_finishes_the_job(
    source: satchel.Satchel,
) -> None:
    crashing = CrashesMidBatch()
    async with satchel.open(backend=crashing) as target:
        with pytest.raises(BackendUnavailable):
            await transfer.copy(source, target, batch_size=6)
        assert crashing.calls == 3  # the empty call that checks for support, then batches
        report = await transfer.copy(source, target, batch_size=6, verify=True)
        assert report.mismatched == []
        assert report.total == 30
        assert await assert_same_data(source, target, RECORD_NAMESPACES) == 30


async def test_export_then_import_round_trips(
    source: satchel.Satchel, target: satchel.Satchel, tmp_path: Path
) -> None:
    for name in ("backup.jsonl", "backup.jsonl.gz"):
        path = tmp_path / name
        exported = await transfer.export(source, path, batch_size=5)
        assert exported.total == 30
        assert exported.skipped == ["log:chat"]
        raw = path.read_bytes()
        assert raw.startswith(b"\x1f\x8b") == name.endswith(".gz")
        async with satchel.open(backend="memory") as fresh:
            imported = await transfer.import_(fresh, path, batch_size=7)
            assert imported.records == exported.records
            assert await assert_same_data(source, fresh, RECORD_NAMESPACES) == 30


async def test_the_export_format(source: satchel.Satchel) -> None:
    out = io.BytesIO()
    await transfer.export(source, out, ["kv:users"])
    lines = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    header, records, end = lines[0], lines[1:-1], lines[-1]
    assert header["format"] == "satchel-records"
    assert header["format_version"] == 1
    assert header["namespace"] == source.namespace  # what the collections are relative to
    assert end == {"end": True, "records": 22}
    first = min(records, key=lambda r: r["key"])
    assert set(first) == {
        "collection",
        "key",
        "value",
        "version",
        "created_at",
        "updated_at",
        "expires_at",
        "index",
    }
    assert first["collection"] == "kv:users"
    assert first["key"] == "u000"
    assert first["version"] == 2
    assert first["index"] == {"team": ["t0"]}
    assert first["created_at"].endswith("Z")
    assert first["expires_at"] is not None
    # a stream import (gzip or not) reads it back
    async with satchel.open(backend="memory") as fresh:
        zipped = gzip.compress(out.getvalue())
        report = await transfer.import_(fresh, io.BytesIO(zipped))
        assert report.records == {"kv:users": 22}
        await assert_same_data(source, fresh, ["kv:users"])


def with_value(record: dict[str, Any], value: str) -> str:
    """The line of ``record`` with ``value`` (JSON text, maybe invalid) as its value."""
    return json.dumps({**record, "value": "@value@"}).replace('"@value@"', value)


def _damaged(text: str) -> list[tuple[str, str]]:
    lines = text.splitlines(keepends=True)
    record = json.loads(lines[1])
    return [
        ("".join(lines[:-1]), "truncated"),
        ("", "empty file"),
        ('{"format": "other"}\n' + "".join(lines[1:]), "not a satchel export"),
        (lines[0].replace('"format_version":1', '"format_version":2') + "".join(lines[1:]), "2"),
        (
            "".join(lines[:2]) + json.dumps({**record, "version": 0}) + "\n" + "".join(lines[2:]),
            "line 3",
        ),
        ("".join(lines[:2]) + "{not json\n" + "".join(lines[2:]), "line 3"),
        (
            "".join(lines[:-1]) + lines[-1].replace('"records":', '"records":1'),
            "end line",
        ),
    ] + [
        # a record the target would refuse, after whole batches of good ones
        ("".join(lines[:-2]) + bad + "\n" + "".join(lines[-2:]), problem)
        for bad, problem in (
            (with_value(record, "[NaN]"), "NaN is not JSON"),
            (with_value(record, "1e400"), "inf"),
            (with_value(record, "[" * 100_000 + "]" * 100_000), "recursion"),
            (with_value(record, "[" * 300 + "]" * 300), "nests deeper"),
            (json.dumps({**record, "collection": "kv:x\u0000y"}), "NUL"),
            # a name twice: readers differ on which one counts (the first, the last)
            (json.dumps(record)[:-1] + ', "key": "other"}', "'key' twice"),
            (json.dumps(record).replace('"value": ', '"value": {"a": 1, "a": 2}, "v": '), "'a'"),
        )
    ]


async def test_a_damaged_file_writes_nothing(
    source: satchel.Satchel, target: satchel.Satchel, tmp_path: Path
) -> None:
    out = io.BytesIO()
    await transfer.export(source, out, ["kv:users"])
    path = tmp_path / "damaged.jsonl"
    for text, problem in _damaged(out.getvalue().decode()):
        path.write_text(text)
        with pytest.raises(InvalidArgument, match="file: ") as caught:
            await transfer.import_(target, path, batch_size=2)
        assert problem in str(caught.value)
        assert await names(target) == [], f"{problem}: a record was written"
    with pytest.raises(InvalidArgument, match="file: cannot read"):
        await transfer.import_(target, tmp_path / "missing.jsonl")


async def test_import_of_named_namespaces_and_dry_run(
    source: satchel.Satchel, target: satchel.Satchel, tmp_path: Path
) -> None:
    path = tmp_path / "all.jsonl"
    await transfer.export(source, path)
    dry = await transfer.import_(target, path, dry_run=True)
    assert dry.total == 30
    assert await names(target) == []
    report = await transfer.import_(target, path, ["session:sessions"])
    assert report.records == {"session:sessions": 1}
    assert await names(target) == ["session:sessions"]


async def test_records_expired_by_import_time_leave_their_keys_absent(
    target: satchel.Satchel, tmp_path: Path
) -> None:
    async with satchel.open(backend="memory") as source:
        await source.kv("k").set("soon", 1, ttl=0.05)
        await source.kv("k").set("stays", 2)
        path = tmp_path / "x.jsonl"
        await transfer.export(source, path)
    await target.kv("k").set("soon", "live in the target")
    await asyncio.sleep(0.1)
    report = await transfer.import_(target, path)
    assert report.records == {"kv:k": 2}
    assert report.expired == 1
    assert await target.kv("k").get("soon") is None
    assert await target.kv("k").get("stays") == 2


async def test_bare_backends_move_every_collection() -> None:
    source, target = MemoryBackend(), MemoryBackend()
    await source.put(Record("any:thing", "k", {"a": 1}, index={"i": ("x",)}))
    await source.put(Record("plain", "k", 1))
    report = await transfer.copy(source, target, verify=True)
    assert report.records == {"any:thing": 1, "plain": 1}
    assert report.mismatched == []
    for collection in ("any:thing", "plain"):
        assert_restored(await target.get(collection, "k"), await source.get(collection, "k"))  # type: ignore[arg-type]


class NoRestore(MemoryBackend):
    """A backend that keeps the contract's default restore_many."""

    restore_many = Backend.restore_many


async def test_a_target_that_cannot_restore_refuses_before_anything_is_written(
    source: satchel.Satchel, tmp_path: Path
) -> None:
    plain = NoRestore()
    with pytest.raises(Unsupported, match="restore_many"):
        await transfer.copy(source, plain)
    with pytest.raises(Unsupported):
        await transfer.copy(source, plain, dry_run=True)
    path = tmp_path / "x.jsonl"
    await transfer.export(source, path)
    with pytest.raises(Unsupported):
        await transfer.import_(plain, path)
    assert await plain.collections() == []
    with pytest.raises(Unsupported, match="Nothing was written"):
        await plain.restore_many([Record("c", "k", 1, 1)])


async def test_bad_arguments(source: satchel.Satchel, target: satchel.Satchel) -> None:
    for size in (0, -1, 10_001, True, 2.0):
        with pytest.raises(InvalidArgument, match="batch_size"):
            await transfer.copy(source, target, batch_size=size)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="target: is the source"):
        await transfer.copy(source, source)
    with pytest.raises(InvalidArgument, match="namespaces"):
        await transfer.copy(source, target, "kv:users")
    with pytest.raises(InvalidArgument, match="source"):
        await transfer.copy("memory://", target)  # type: ignore[arg-type]
    assert await names(target) == []


class Wrapping:
    """A codec plugin: every stored value is wrapped as ``{"$w": value}``."""

    @satchel.hookimpl
    def satchel_register_codecs(self, register: Any) -> None:
        register(
            satchel.Codec(
                "wrap",
                lambda value, collection, key: {"$w": value},
                lambda value, collection, key: value["$w"],
            )
        )


async def test_values_go_through_each_handles_codecs(source: satchel.Satchel) -> None:
    inner = MemoryBackend()
    async with satchel.open(backend=inner, plugins=[Wrapping()]) as wrapped:
        report = await transfer.copy(source, wrapped, ["kv:users"], verify=True)
        assert report.mismatched == [], "the summaries compare decoded values"
        collection = f"{wrapped.namespace}:kv:users"
        stored = await inner.get(collection, "u002")
        original = await source.backend.get(f"{source.namespace}:kv:users", "u002")
        assert stored is not None
        assert original is not None
        assert stored.value == {"$w": original.value}, "encoded as the target writes"
        assert stored.version == original.version
        assert await wrapped.kv("users").get("u002") == original.value
        out = io.BytesIO()
        await transfer.export(wrapped, out)
        lines = [json.loads(line) for line in out.getvalue().splitlines()[1:-1]]
        assert {line["key"]: line["value"] for line in lines}["u002"] == original.value


async def test_instances_go_with_their_tenant(tmp_path: Path) -> None:
    """A handle's instances are moved with it: the catalogue and each instance's data,
    under the target's namespace, with the same ids (nested instances too)."""
    async with satchel.open(backend="memory", namespace="src") as source:
        instances = source.instances()
        team = await instances.create("team", "the team's agents")
        await (await instances.kv(team.id, "notes")).set("n1", {"text": "hello"})
        await source.kv("plain").set("k", 1)
        for route in ("copy", "file"):
            async with satchel.open(backend="memory", namespace="dst") as target:
                if route == "copy":
                    report = await transfer.copy(source, target, verify=True)
                    assert report.mismatched == []
                else:
                    path = tmp_path / "with-instances.jsonl"
                    report = await transfer.export(source, path)
                    await transfer.import_(target, path)
                assert f".i-{team.id}:kv:notes" in report.records
                assert "instance:catalogue" in report.records
                copied = target.instances()
                [found] = await copied.list()
                assert (found.id, found.name, found.description) == (
                    team.id,
                    "team",
                    "the team's agents",
                )
                assert found.tenant == f"dst.i-{team.id}"
                notes = await copied.kv(team.id, "notes")
                assert await notes.get("n1") == {"text": "hello"}
                assert await copied.counts(team.id) == {"notes": 1}
                assert await target.kv("plain").get("k") == 1


async def test_the_deepest_values_are_exported_and_imported(tmp_path: Path) -> None:
    from satchel.toolkit import MAX_STORED_DEPTH
    from satchel.validation import MAX_DEPTH

    def nested(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth - 1):
            value = [value]
        return value

    path = tmp_path / "deep.jsonl"
    async with satchel.open(backend="memory") as source:
        await source.kv("deep").set("k", nested(MAX_DEPTH))  # the deepest a store takes
        assert (await transfer.export(source, path)).total == 1
        async with satchel.open(backend="memory") as target:
            await transfer.import_(target, path)
            assert await target.kv("deep").get("k") == nested(MAX_DEPTH)
    bare = MemoryBackend()  # the deepest a backend stores, moved between bare backends
    await bare.put(Record("c", "k", nested(MAX_STORED_DEPTH)))
    assert (await transfer.export(bare, path)).total == 1
    other = MemoryBackend()
    await transfer.import_(other, path)
    got = await other.get("c", "k")
    assert got is not None and got.value == nested(MAX_STORED_DEPTH)


class _Failing(MemoryBackend):
    """A source whose records cannot be read."""

    async def get_many(self, collection: str, keys: Sequence[str]) -> list[Record | None]:
        raise BackendUnavailable("the source went away")


async def _source_that_fails() -> _Failing:
    """A source holding one record, which fails when an export reads it."""
    broken = _Failing()
    await broken.put(Record("c", "k", 1))
    return broken


async def test_an_export_that_fails_leaves_the_earlier_file_as_it_was(
    source: satchel.Satchel, tmp_path: Path
) -> None:
    path = tmp_path / "backup.jsonl"
    await transfer.export(source, path)
    before = path.read_bytes()

    broken = await _source_that_fails()
    with pytest.raises(BackendUnavailable):
        await transfer.export(broken, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["backup.jsonl"]  # no partial file left


async def test_a_tenant_whose_name_starts_like_an_instance_is_not_swept_in() -> None:
    backend = MemoryBackend()
    async with satchel.open(backend=backend, namespace="a") as mine:
        made = await mine.instances().create("team")
        await (await mine.instances().kv(made.id, "notes")).set("n", 1)
        async with satchel.open(backend=backend, namespace="a.i-staging") as other:
            await other.kv("secret").set("s", 1)
        async with satchel.open(backend=backend, namespace=f"a.i-{made.id}.bak") as backup:
            await backup.kv("old").set("o", 1)
        async with satchel.open(backend="memory", namespace="b") as target:
            report = await transfer.copy(mine, target)
        assert sorted(report.records) == [f".i-{made.id}:kv:notes", "instance:catalogue"]
        # and deleting the instance leaves the tenant that only looks like one of its own
        await mine.instances().delete(made.id)
        left = await backend.collections()
        assert "a.i-staging:kv:secret" in left and f"a.i-{made.id}.bak:kv:old" in left
        assert f"a.i-{made.id}:kv:notes" not in left
        assert await mine.instances().orphans() == []


async def test_an_import_never_reaches_a_tenant_that_only_looks_like_an_instance(
    tmp_path: Path,
) -> None:
    backend = MemoryBackend()
    async with satchel.open(backend=backend, namespace="acme.i-staging") as staging:
        await staging.kv("users").set("alice", "staging's")
    line = {
        "collection": ".i-staging:kv:users",
        "key": "alice",
        "value": "overwritten",
        "version": 9,
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "expires_at": None,
        "index": {},
    }
    path = tmp_path / "crafted.jsonl"
    header = {"format": transfer.FORMAT, "format_version": transfer.FORMAT_VERSION}
    path.write_text(
        "\n".join(json.dumps(x) for x in (header, line, {"end": True, "records": 1})) + "\n"
    )
    async with satchel.open(backend=backend, namespace="acme") as acme:
        with pytest.raises(InvalidArgument, match="names no instance of 'acme'"):
            await transfer.import_(acme, path)
        with pytest.raises(InvalidArgument, match="namespaces: "):
            await transfer.copy(acme, satchel.open(backend="memory"), [".i-staging:kv:users"])
    async with satchel.open(backend=backend, namespace="acme.i-staging") as staging:
        assert await staging.kv("users").get("alice") == "staging's"


async def test_a_copy_that_would_write_into_what_it_reads_is_refused() -> None:
    backend = MemoryBackend()
    async with satchel.open(backend=backend, namespace="acme") as acme:
        made = await acme.instances().create("team")
        await acme.kv("users").set("alice", 1)
        same = satchel.open(backend=backend, namespace="acme")  # another handle, same data
        inside = satchel.open(backend=backend, namespace=made.tenant)
        for source, target in ((acme, same), (acme, inside), (inside, acme), (acme, backend)):
            with pytest.raises(InvalidArgument, match="target: is the source itself"):
                await transfer.copy(source, target)
        other = satchel.open(backend=backend, namespace="elsewhere")
        assert (await transfer.copy(acme, other)).records["kv:users"] == 1


async def test_an_export_keeps_links_permissions_and_redirected_output(
    source: satchel.Satchel, tmp_path: Path
) -> None:
    real = tmp_path / "real.jsonl"
    real.write_text("old")
    os.chmod(real, 0o640)
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    await transfer.export(source, link)
    assert link.is_symlink()  # the link stays; the file it names gets the export
    assert real.read_text().startswith('{"format":"satchel-records"')
    assert real.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "fresh.jsonl"
    await transfer.export(source, fresh)
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
    # standard output redirected to a file: written through the open descriptor (Linux)
    redirected = tmp_path / "redirected.jsonl"
    with open(redirected, "wb") as out:  # noqa: ASYNC230 - a test
        if os.path.isdir("/proc/self/fd"):  # noqa: ASYNC240 - a test
            await transfer.export(source, f"/proc/self/fd/{out.fileno()}")
            assert redirected.read_text().startswith('{"format":"satchel-records"')
    assert sorted(os.listdir(tmp_path)) == [
        "fresh.jsonl",
        "link.jsonl",
        "real.jsonl",
        "redirected.jsonl",
    ]


async def test_a_damaged_gzip_file_is_refused_naming_the_file_and_writes_nothing(
    source: satchel.Satchel, target: satchel.Satchel, tmp_path: Path
) -> None:
    out = io.BytesIO()
    await transfer.export(source, out, ["kv:users"], gzip=True)
    whole = out.getvalue()
    flipped = bytearray(whole)
    flipped[-6] ^= 0xFF  # the CRC
    path = tmp_path / "damaged.jsonl.gz"
    for data in (whole[:-10], whole[: len(whole) // 2], bytes(flipped), whole + b"xx"):
        path.write_bytes(data)
        with pytest.raises(InvalidArgument, match=r"file: .*gzip") as caught:
            await transfer.import_(target, path, batch_size=2)
        assert "damaged.jsonl.gz" in str(caught.value)
        assert await names(target) == [], "a record was written"
        with pytest.raises(InvalidArgument, match=r"file: the stream.*gzip"):
            await transfer.import_(target, io.BytesIO(data), dry_run=True)


async def test_times_out_of_range_and_loose_header_and_end_types_are_refused(
    target: satchel.Satchel, tmp_path: Path
) -> None:
    header: dict[str, Any] = {"format": transfer.FORMAT, "format_version": 1}
    record: dict[str, Any] = {
        "collection": "kv:x",
        "key": "k",
        "value": 1,
        "version": 1,
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    }
    path = tmp_path / "bad.jsonl"
    cases: list[tuple[list[dict[str, Any]], str]] = [
        ([header, {**record, "created_at": "9999-12-31T23:00:00-05:00"}], "created_at"),
        ([header, {**record, "expires_at": "0001-01-01T00:30:00+05:00"}], "expires_at"),
        ([header, record, {"end": True, "records": True}], "end line"),
        ([header, record, {"end": True, "records": 1.0}], "end line"),
        ([{**header, "format_version": True}], "format_version"),
    ]
    for lines, problem in cases:
        if lines[-1].get("end") is None:
            lines = [*lines, {"end": True, "records": len(lines) - 1}]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        with pytest.raises(InvalidArgument, match="file: ") as caught:
            await transfer.import_(target, path)
        assert problem in str(caught.value)
        assert await names(target) == []


async def test_a_record_of_an_early_year_round_trips_through_a_file(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    early = datetime(5, 6, 7, 8, 9, 10, 11_000, tzinfo=timezone.utc)
    record = Record("c", "k", {"a": 1}, 3, early, early, None, {"t": ("x",)})
    source, target = MemoryBackend(), MemoryBackend()
    await source.restore_many([record])
    path = tmp_path / "early.jsonl"
    await transfer.export(source, path)
    assert '"created_at":"0005-06-07T08:09:10.011Z"' in path.read_text()
    await transfer.import_(target, path)
    assert_restored(await target.get("c", "k"), record)


async def test_an_export_into_a_folder_that_takes_no_new_file_keeps_the_earlier_one(
    source: satchel.Satchel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backup's file can be written but its folder takes no new file (a root-owned
    folder holding a file the operator owns): a failed export still leaves the earlier
    backup as it was, and a complete one replaces it."""
    import tempfile

    folder = tmp_path / "locked"
    folder.mkdir()
    path = folder / "backup.jsonl"
    await transfer.export(source, path)
    before = path.read_bytes()
    mkstemp = tempfile.mkstemp

    def no_new_file_here(*args: Any, **kwargs: Any) -> Any:
        if Path(str(kwargs.get("dir") or tempfile.gettempdir())).resolve() == folder.resolve():
            raise PermissionError(13, "Permission denied")
        return mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", no_new_file_here)

    broken = await _source_that_fails()
    with pytest.raises(BackendUnavailable):
        await transfer.export(broken, path)
    assert path.read_bytes() == before
    assert os.listdir(folder) == ["backup.jsonl"]
    await broken.put(Record("c", "k", 2))
    await transfer.export(MemoryBackend(), path)
    assert path.read_text().startswith('{"format":"satchel-records"')
    assert path.read_text().endswith('{"end":true,"records":0}\n')


async def test_an_import_from_a_pipe_is_checked_whole_then_restored(
    source: satchel.Satchel, target: satchel.Satchel, tmp_path: Path
) -> None:
    """A path naming a pipe (``satchel import <(zcat backup.gz)``, ``/dev/stdin``) can be
    read only once: the import still checks the whole file before it writes, and restores
    every record."""
    if not os.path.isdir("/dev/fd"):  # noqa: ASYNC240 - a test
        pytest.skip("no /dev/fd")
    out = io.BytesIO()
    await transfer.export(source, out, gzip=True)
    data = out.getvalue()
    assert len(data) < 60_000  # fits in a pipe's buffer: no writer thread needed
    for payload, works in ((data, True), (data[:-12], False)):
        read, write = os.pipe()
        try:
            os.write(write, payload)
            os.close(write)
            if works:
                report = await transfer.import_(target, f"/dev/fd/{read}", batch_size=3)
                assert report.total == sum(
                    (await transfer.export(source, io.BytesIO())).records.values()
                )
            else:
                with pytest.raises(InvalidArgument, match="/dev/fd/"):
                    await transfer.import_(target, f"/dev/fd/{read}", batch_size=3)
        finally:
            os.close(read)
        if works:
            assert await assert_same_data(source, target, RECORD_NAMESPACES) > 0
            for name in await names(target):
                await target.backend.drop(f"{target.namespace}:{name}")
        else:
            assert await names(target) == [], "a damaged pipe's records were written"


async def test_an_import_from_a_stream_leaves_it_open(source: satchel.Satchel) -> None:
    """The caller's stream is the caller's: read to its end, never closed."""
    import gc

    for compress in (False, True):
        out = io.BytesIO()
        await transfer.export(source, out, ["kv:users"], gzip=compress)
        assert not out.closed
        stream = io.BytesIO(out.getvalue())
        async with satchel.open(backend="memory") as target:
            report = await transfer.import_(target, stream)
        gc.collect()
        assert report.total > 0
        assert not stream.closed, "import_ closed the caller's stream"
        stream.seek(0)
        assert stream.read(1) in (b"{", b"\x1f")


async def test_a_copy_between_a_handle_and_a_bare_backend_keeps_full_names(
    source: satchel.Satchel,
) -> None:
    """A bare backend names every collection in full: a handle's records copied into one
    land under the handle's full names (a handle of that namespace then reads them), and a
    bare backend's full names, which a handle's namespace cannot hold, are refused."""
    bare = MemoryBackend()
    report = await transfer.copy(source, bare, verify=True)
    assert report.mismatched == []
    assert set(report.records) >= set(RECORD_NAMESPACES)
    assert all(c.startswith(f"{source.namespace}:") for c in await bare.collections())
    async with satchel.open(backend=bare, namespace=source.namespace) as reader:
        assert await assert_same_data(source, reader, RECORD_NAMESPACES) > 0
    async with satchel.open(backend="memory", namespace="acme") as target:
        with pytest.raises(InvalidArgument, match="target"):
            await transfer.copy(bare, target)
        assert await target.backend.collections() == []


async def test_fields_a_reader_does_not_know_are_ignored(
    target: satchel.Satchel, tmp_path: Path
) -> None:
    """docs/moving-data.md: readers ignore fields they do not know, on any line (a record
    line with a field named like the end line's is still a record)."""
    record = {
        "collection": "kv:x",
        "key": "k",
        "value": 1,
        "version": 4,
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "end": True,
        "records": 0,
        "note": "new",
    }
    lines = [
        {"format": transfer.FORMAT, "format_version": 1, "note": "new"},
        record,
        {"end": True, "records": 1, "note": "new"},
    ]
    path = tmp_path / "extra.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = await transfer.import_(target, path)
    assert report.records == {"kv:x": 1}
    entry = await target.kv("x").get_entry("k")
    assert entry is not None and entry.version == 4


async def test_an_export_lands_under_the_names_it_was_exported_with(
    source: satchel.Satchel, tmp_path: Path
) -> None:
    """The header says what the collections are relative to: a handle's export imported
    into a bare backend lands under the handle's full names (a handle of that namespace
    reads it), a bare backend's export is refused by a handle before anything is written,
    and a file without the field names them relative to the target, as before."""
    path = tmp_path / "handle.jsonl"
    await transfer.export(source, path)
    bare = MemoryBackend()
    await transfer.import_(bare, path)
    assert all(c.startswith(f"{source.namespace}:") for c in await bare.collections())
    async with satchel.open(backend=bare, namespace=source.namespace) as reader:
        assert await assert_same_data(source, reader, RECORD_NAMESPACES) > 0
    whole = tmp_path / "bare.jsonl"
    await transfer.export(bare, whole)
    header = json.loads(whole.read_text().splitlines()[0])
    assert header["namespace"] is None
    async with satchel.open(backend="memory", namespace="acme") as target:
        with pytest.raises(InvalidArgument, match="exported from a bare backend"):
            await transfer.import_(target, whole)
        with pytest.raises(InvalidArgument, match="exported from a bare backend"):
            await transfer.import_(target, io.BytesIO(whole.read_bytes()))
        assert await target.backend.collections() == []
        # an older file, without the field: relative to the target's namespace
        lines = path.read_text().splitlines()
        first = json.loads(lines[0])
        del first["namespace"]
        older = tmp_path / "older.jsonl"
        older.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
        await transfer.import_(target, older)
        assert await assert_same_data(source, target, RECORD_NAMESPACES) > 0
        first["namespace"] = 5
        older.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
        with pytest.raises(InvalidArgument, match="line 1: namespace 5"):
            await transfer.import_(bare, older)
    again = MemoryBackend()
    await transfer.import_(again, whole)  # a bare export into a bare backend: full names
    assert sorted(await again.collections()) == sorted(await bare.collections())
