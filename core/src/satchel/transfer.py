"""Moving records between backends: :func:`copy` from one backend (or handle) to another,
:func:`export` to a JSON Lines file and :func:`import_` from one.

Records keep their keys, values, versions, created/updated times, expiry and index entries
exactly: the target stores them with :meth:`~satchel.backend.Backend.restore_many`. Both
ends are a :class:`~satchel.Satchel` handle (the collections of its namespace, each named
``<kind>:<name>``: ``kv:users``, ``task:tasks``, ``session:sessions``, and those of its
instances, ``.i-<id>:kv:users``, with their catalogue; values go through the handle's
codecs) or a bare :class:`~satchel.backend.Backend` (every collection,
by its full name). Everything streams in batches of ``batch_size`` records: the keys of a
collection page by page, one :meth:`~satchel.backend.Backend.get_many` and one
``restore_many`` per page, so memory stays bounded whatever the size of the data. A copy or
import that stops half-way (an error, Ctrl-C) and is run again finishes the job: restoring
a record again changes nothing, so nothing is duplicated or lost.

Collections of logs (:meth:`satchel.Satchel.logs`, kind ``log``) are not moved: they are
listed in :attr:`Report.skipped`. The file format is described, and kept stable, in
``docs/moving-data.md``.
"""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import IO, Any, Final, cast

from satchel.backend import Backend, Record, check_restore, utcnow
from satchel.errors import InvalidArgument
from satchel.handle import Satchel
from satchel.stores.instances import INSTANCE_MARK, instance_of
from satchel.toolkit import MAX_STORED_DEPTH
from satchel.validation import encode_json

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Progress",
    "Report",
    "Summary",
    "copy",
    "export",
    "import_",
    "summarize",
]

#: The ``format`` of the header line of an export.
FORMAT: Final = "satchel-records"
#: The version of the file format this satchel writes (and the highest it reads).
FORMAT_VERSION: Final = 1
#: How many records one batch carries by default.
DEFAULT_BATCH_SIZE: Final = 500
#: The largest batch accepted.
MAX_BATCH_SIZE: Final = 10_000

_GZIP_MAGIC: Final = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a copy, export or import stands, passed to its ``progress`` callback after each
    batch (a copy or export also calls it at the start of each namespace, with
    ``namespace_done=0``).

    :param namespace: the namespace (collection) being moved.
    :param namespace_done: records of it moved so far.
    :param done: records moved so far, over all namespaces.
    :param expected: how many records there are to move in all, as counted at the start
        (``None`` when unknown: an import); records written or expiring meanwhile make the
        final figure differ.
    """

    namespace: str
    namespace_done: int
    done: int
    expected: int | None


@dataclass(frozen=True, slots=True)
class Summary:
    """What a namespace holds, for :func:`copy`'s ``verify``: how many live records and a
    checksum of them (key, value, version, times, expiry, index entries), the same whatever
    the order the backend lists them in."""

    records: int
    checksum: str


@dataclass
class Report:
    """What a copy, export or import did.

    :param records: records moved (or, with ``dry_run``, that would be), per namespace.
    :param expired: of those, how many had expired by the time they were written (they are
        stored as expired: the target's key reads as absent).
    :param skipped: namespaces not moved (collections of logs).
    :param dry_run: nothing was written.
    :param source: with ``verify``, the summary of each namespace on the source side.
    :param target: with ``verify``, the same on the target side.
    """

    records: dict[str, int] = field(default_factory=dict)
    expired: int = 0
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False
    source: dict[str, Summary] | None = None
    target: dict[str, Summary] | None = None

    @property
    def total(self) -> int:
        """Records moved over all namespaces."""
        return sum(self.records.values())

    @property
    def mismatched(self) -> list[str]:
        """With ``verify``: the namespaces whose count or checksum differs between the two
        sides (empty: the target holds exactly what the source does)."""
        if self.source is None or self.target is None:
            return []
        names = sorted(set(self.source) | set(self.target))
        return [n for n in names if self.source.get(n) != self.target.get(n)]


ProgressCallback = Callable[[Progress], object]


# -- the two ends ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _End:
    backend: Backend
    #: the handle's namespace (its collections are "<namespace>:<kind>:<name>", those of
    #: its instances "<namespace>.i-<id>:<kind>:<name>"), or None for a bare backend
    namespace: str | None
    #: the backend that holds the data (a handle's, under its hooks and codecs)
    raw: Backend

    @property
    def prefix(self) -> str:
        return "" if self.namespace is None else f"{self.namespace}:"

    async def names(self) -> list[str]:
        """The end's collections, named as :meth:`collection` takes them: a handle's own
        as ``kv:users``, its instances' as ``.i-<id>:kv:users`` (an instance's data goes
        with the tenant that holds it, as its catalogue does)."""
        names = await self.backend.collections()
        if self.namespace is None:
            return names
        return [c[len(self.prefix) :] for c in names if c.startswith(self.prefix)] + [
            c[len(self.namespace) :] for c in names if instance_of(self.namespace, c) is not None
        ]

    def collection(self, name: str) -> str:
        """The full name of ``name``; ``ValueError`` for an instance's name that is not
        one (``.i-staging:kv:x`` would reach another tenant, ``<namespace>.i-staging``)."""
        if self.namespace is not None and name.startswith(INSTANCE_MARK):
            full = self.namespace + name
            if instance_of(self.namespace, full) is None:
                raise ValueError(
                    f"{name!r} names no instance of {self.namespace!r} (an instance's "
                    "collections are .i-<16 hex digits>:<kind>:<name>)"
                )
            return full
        return self.prefix + name


def _end(value: object, what: str) -> _End:
    if isinstance(value, Satchel):
        return _End(value.backend, value.namespace, value.raw_backend)
    if isinstance(value, Backend):
        return _End(value, None, value)
    raise InvalidArgument(
        f"{what}: must be a satchel.Satchel handle or a satchel.backend.Backend, not "
        f"{type(value).__name__}"
    )


def _overlap(src: _End, dst: _End) -> bool:
    """Whether a copy from ``src`` to ``dst`` would write into what it reads: the same
    data (one backend object, or two clients of one shared store, which describe
    themselves alike: the same server, database and key prefix) under the same namespace,
    or under namespaces of which one holds the other's instances (``acme`` and
    ``acme.i-<id>``), or a bare backend (every collection) on either side. Copying onto the
    source would write back, at their old versions, records that writers changed
    meanwhile."""
    one, other = src.raw, dst.raw
    if one is not other:
        shared = (
            one.capabilities.shared_across_processes and other.capabilities.shared_across_processes
        )
        if not (shared and one.describe() == other.describe()):
            return False
    a, b = src.namespace, dst.namespace
    if a is None or b is None or a == b:
        return True
    return instance_of(a, b + ":") is not None or instance_of(b, a + ":") is not None


def _is_log(collection: str) -> bool:
    """Whether ``collection`` (a full name) is a store's collection of logs,
    ``<tenant>:log:<name>``."""
    parts = collection.split(":", 2)
    return len(parts) == 3 and parts[1] == "log"


def _check_batch_size(batch_size: int) -> None:
    if (
        not isinstance(batch_size, int)
        or isinstance(batch_size, bool)
        or not 1 <= batch_size <= MAX_BATCH_SIZE
    ):
        raise InvalidArgument(
            f"batch_size: must be an int from 1 to {MAX_BATCH_SIZE}, not {batch_size!r}"
        )


async def _selected(end: _End, namespaces: Sequence[str] | None, report: Report) -> list[str]:
    """The namespaces to move: those named (in that order), or every one the end holds;
    collections of logs go to ``report.skipped``."""
    if namespaces is not None:
        if isinstance(namespaces, str) or not all(isinstance(n, str) and n for n in namespaces):
            raise InvalidArgument(
                f"namespaces: must be a list of namespace names, not {namespaces!r}"
            )
        names = list(dict.fromkeys(namespaces))
    else:
        names = await end.names()
    chosen = []
    for name in names:
        try:
            collection = end.collection(name)
        except ValueError as exc:
            raise InvalidArgument(f"namespaces: {exc}") from None
        if _is_log(collection):
            report.skipped.append(name)
        else:
            chosen.append(name)
    return chosen


async def _pages(end: _End, name: str, batch_size: int) -> AsyncIterator[list[Record]]:
    """The live records of a namespace, ``batch_size`` at a time: its keys as the backend
    lists them, each page read with one ``get_many`` (a record removed meanwhile is left
    out)."""
    collection = end.collection(name)
    keys: list[str] = []

    async def read(page: list[str]) -> list[Record]:
        return [r for r in await end.backend.get_many(collection, page) if r is not None]

    async for key in end.backend.iter_keys(collection):
        keys.append(key)
        if len(keys) >= batch_size:
            yield await read(keys)
            keys = []
    if keys:
        yield await read(keys)


def _moved(records: Sequence[Record], target: _End, name: str) -> list[Record]:
    collection = target.collection(name)
    return [replace(r, collection=collection) for r in records]


def _notify(progress: ProgressCallback | None, event: Progress) -> None:
    if progress is not None:
        progress(event)


# -- copy ---------------------------------------------------------------------------------------


async def copy(
    source: Satchel | Backend,
    target: Satchel | Backend,
    namespaces: Sequence[str] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
    dry_run: bool = False,
    verify: bool = False,
) -> Report:
    """Copy every namespace of ``source`` (or those in ``namespaces``) to ``target``, record
    by record with its metadata, in batches of ``batch_size``.

    A record the target already holds under the same key is replaced; records the target
    holds under other keys stay. Run again after an interruption, it finishes the job.

    :param progress: called with a :class:`Progress` after each batch.
    :param dry_run: read and count the records, write nothing (the target is still asked
        whether it can restore records, so that a dry run finds that out).
    :param verify: afterwards, summarise each namespace on both sides
        (:func:`summarize`); :attr:`Report.mismatched` names those that differ.
    :raises InvalidArgument: a bad argument, ``source`` and ``target`` the same
        collections, or a bare backend copied into a handle (its full names fit no
        namespace; a handle copied into a bare backend keeps its full names there); nothing
        is written.
    :raises Unsupported: the target cannot store records with their metadata; nothing is
        written.
    """
    _check_batch_size(batch_size)
    src, dst = _end(source, "source"), _end(target, "target")
    if _overlap(src, dst):
        raise InvalidArgument(
            "target: is the source itself (or holds it, or is held in it); copy to another "
            "backend or namespace"
        )
    if dst.namespace is not None and src.namespace is None:
        raise InvalidArgument(
            "target: a handle holds only its namespace's collections, and the source, a bare "
            "backend, names every collection in full; give the target as a bare backend too "
            "(handle.raw_backend), or the source as a handle"
        )
    if dst.namespace is None and src.namespace is not None:
        # a bare target names collections in full: the handle's records keep their full
        # names there ("<namespace>:kv:users"), where a handle of that namespace finds them
        dst = replace(dst, namespace=src.namespace)
    await dst.backend.restore_many([])  # Unsupported now, before anything is read or written
    report = Report(dry_run=dry_run)
    names = await _selected(src, namespaces, report)
    counts = [await src.backend.count(src.collection(n)) for n in names]
    expected = sum(counts)
    done = 0
    now = utcnow()
    for name in names:
        moved = 0
        report.records[name] = 0
        _notify(progress, Progress(name, 0, done, expected))
        async for page in _pages(src, name, batch_size):
            if not dry_run:
                await dst.backend.restore_many(_moved(page, dst, name))
                now = utcnow()
            report.expired += sum(1 for r in page if not r.is_live(now))
            moved += len(page)
            done += len(page)
            report.records[name] = moved
            _notify(progress, Progress(name, moved, done, expected))
    if verify and not dry_run:
        report.source = {n: await summarize(src.backend, src.collection(n)) for n in names}
        report.target = {n: await summarize(dst.backend, dst.collection(n)) for n in names}
    return report


# -- checksums ----------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    # the year with four digits whatever it is (strftime's %Y gives "5" for the year 5 on
    # some platforms, which no ISO-8601 reader takes back)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )


def _parse_time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO-8601 time or null, not {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} is not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{what} has no time zone: {value!r}")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:00-05:00: beyond the years a time can hold
        raise ValueError(f"{what} is out of range in UTC: {value!r}") from None


def _line(record: Record, name: str) -> dict[str, Any]:
    """The line of ``record`` (in namespace ``name``) in an export."""
    return {
        "collection": name,
        "key": record.key,
        "value": record.value,
        "version": record.version,
        "created_at": _time(record.created_at),
        "updated_at": _time(record.updated_at),
        "expires_at": _time(record.expires_at),
        "index": {n: list(v) for n, v in sorted(record.index.items()) if v},
    }


def _digest(record: Record) -> int:
    line = _line(record, "")
    line["index"] = {n: sorted(set(v)) for n, v in line["index"].items()}
    data = json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(data.encode()).digest()[:16], "big")


async def summarize(
    backend: Backend, collection: str, *, batch_size: int = DEFAULT_BATCH_SIZE
) -> Summary:
    """How many live records ``collection`` holds and a checksum of them: the sum (modulo
    2**128) of a SHA-256 of each record's canonical JSON (key, value, version, times,
    expiry, sorted index entries), so the listing order does not matter. Equal summaries
    on two backends mean, but for a hash collision, that they hold the same records."""
    _check_batch_size(batch_size)
    end = _End(backend, None, backend)
    records, total = 0, 0
    async for page in _pages(end, collection, batch_size):
        records += len(page)
        for record in page:
            total = (total + _digest(record)) % (1 << 128)
    return Summary(records, f"{total:032x}")


# -- export ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _compressed(raw: IO[bytes], compress: bool | None) -> Iterator[IO[bytes]]:
    if compress:
        with gzip_module.GzipFile(fileobj=raw, mode="wb") as zipped:
            yield cast(IO[bytes], zipped)
    else:
        yield raw


@contextlib.contextmanager
def _writer(file: str | os.PathLike[str] | IO[bytes], compress: bool | None) -> Iterator[IO[bytes]]:
    if not isinstance(file, (str, os.PathLike)):
        with _compressed(file, compress) as out:
            yield out
        return
    path = os.fspath(file)
    if compress is None:
        compress = path.endswith(".gz")
    real = os.path.realpath(path)
    in_place = _in_place(path, real)
    partial = None if in_place else _partial_beside(real)
    if partial is None and not in_place:
        with _staged(path, real, compress) as out:
            yield out
        return
    if partial is None:  # a device, a pipe, standard output
        try:
            raw = open(path, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InvalidArgument(f"file: cannot write {path!r}: {exc.strerror}") from None
        with raw, _compressed(raw, compress) as out:
            yield out
        return
    # written beside the file and moved onto it once complete (through a symbolic link, onto
    # the file it names; with the file's permissions): an export that fails half-way leaves
    # an earlier file as it was
    fd, temporary = partial
    try:
        with os.fdopen(fd, "wb") as raw, _compressed(raw, compress) as out:
            yield out
        os.replace(temporary, real)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@contextlib.contextmanager
def _staged(path: str, real: str, compress: bool | None) -> Iterator[IO[bytes]]:
    """An export to a file whose folder takes no new file: written to a temporary file of
    the system's, then copied onto the file once complete (which keeps its permissions), so
    that an export that fails half-way still leaves an earlier file as it was."""
    try:
        fd = os.open(real, os.O_WRONLY | os.O_CREAT, 0o666)  # not emptied before the end
    except OSError as exc:
        raise InvalidArgument(f"file: cannot write {path!r}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as target, tempfile.TemporaryFile() as staged:
        with _compressed(staged, compress) as out:
            yield out
        staged.seek(0)
        target.truncate(0)
        shutil.copyfileobj(staged, target)


def _in_place(path: str, real: str) -> bool:
    """Whether an export is written straight into ``path``: a device or a pipe (standard
    output too, whatever it is redirected to), which a file moved into place would not
    reach."""
    if path.startswith(("/dev/", "/proc/")) or real.startswith(("/dev/", "/proc/")):
        return True
    return os.path.exists(real) and not os.path.isfile(real)


def _partial_beside(real: str) -> tuple[int, str] | None:
    """A new file beside ``real`` with the permissions the export should end with (those of
    the file it replaces, else what the process's umask gives a new file), or ``None`` when
    the folder takes no new file (the export is then staged elsewhere: :func:`_staged`)."""
    try:
        fd, temporary = tempfile.mkstemp(
            prefix=".satchel-export-", dir=os.path.dirname(real) or "."
        )
    except OSError:
        return None
    try:
        mode = os.stat(real).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.fchmod(fd, mode)
    return fd, temporary


def _dump(line: dict[str, Any]) -> bytes:
    # a record's line holds its value one level down: any value a backend stores fits
    return encode_json(line, max_depth=MAX_STORED_DEPTH + 1)[0] + b"\n"


async def export(
    source: Satchel | Backend,
    file: str | os.PathLike[str] | IO[bytes],
    namespaces: Sequence[str] | None = None,
    *,
    gzip: bool | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> Report:
    """Write every namespace of ``source`` (or those in ``namespaces``) to ``file`` as JSON
    Lines: a header line, one line per record, and an end line with the count (the format of
    ``docs/moving-data.md``).

    :param file: a path, or a binary file open for writing.
    :param gzip: compress with gzip; by default, when the path ends in ``.gz``.
    """
    _check_batch_size(batch_size)
    src = _end(source, "source")
    report = Report()
    names = await _selected(src, namespaces, report)
    expected = sum([await src.backend.count(src.collection(n)) for n in names])
    done = 0
    with _writer(file, gzip) as out:
        out.write(
            _dump(
                {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "exported_at": _time(utcnow()),
                    "source": src.backend.describe(),
                    # what the collections below are relative to: the handle's namespace,
                    # or None for a bare backend's full names
                    "namespace": src.namespace,
                }
            )
        )
        for name in names:
            moved = 0
            report.records[name] = 0
            _notify(progress, Progress(name, 0, done, expected))
            async for page in _pages(src, name, batch_size):
                out.write(b"".join(_dump(_line(r, name)) for r in page))
                moved += len(page)
                done += len(page)
                report.records[name] = moved
                _notify(progress, Progress(name, moved, done, expected))
        out.write(_dump({"end": True, "records": done}))
    return report


# -- import ------------------------------------------------------------------------------------


class _Lines:
    """The lines of an export, read and checked one by one."""

    def __init__(self, stream: IO[bytes], what: str, end: _End) -> None:
        self.stream = stream
        self.what = what
        self.end = end  # where the records go: each line's collection must map there
        self.number = 0
        self.records = 0

    def fail(self, problem: str) -> InvalidArgument:
        return InvalidArgument(f"file: {self.what}, line {self.number}: {problem}")

    def __iter__(self) -> Iterator[tuple[str, Record]]:
        header = self._next()
        if header is None:
            raise self.fail("empty file: no header line")
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise self.fail(f"not a satchel export (the first line has no format {FORMAT!r})")
        version = header.get("format_version")
        if (
            not isinstance(version, int)
            or isinstance(version, bool)
            or not 1 <= version <= FORMAT_VERSION
        ):
            raise self.fail(
                f"format_version {version!r}: this satchel reads versions 1 to {FORMAT_VERSION}"
            )
        self.end = self._target(header)
        while True:
            line = self._next()
            if line is None:
                raise self.fail("the file ends without its end line: it is truncated")
            if not isinstance(line, dict):
                raise self.fail("not a JSON object")
            if "end" in line and "collection" not in line:  # a record's line has one
                count = line.get("records")
                if type(count) is not int or count != self.records:
                    raise self.fail(
                        f"the end line counts {line.get('records')!r} records, the file "
                        f"holds {self.records}"
                    )
                if self._next() is not None:
                    raise self.fail("a line follows the end line")
                return
            try:
                name, record = _record(line)
                self.end.collection(name)
            except (ValueError, TypeError, InvalidArgument) as exc:
                raise self.fail(str(exc)) from None
            self.records += 1
            yield name, record

    def _target(self, header: dict[str, Any]) -> _End:
        """Where the records go, by what the header says their collections are relative
        to (``namespace``; a file without it names them relative to the target): a bare
        target takes a handle's export under the handle's full names, where a handle of
        that namespace finds them (as :func:`copy` does); a handle refuses a bare backend's
        export, whose full names fit no namespace."""
        if "namespace" not in header:
            return self.end
        namespace = header["namespace"]
        if namespace is not None and (not isinstance(namespace, str) or not namespace):
            raise self.fail(f"namespace {namespace!r}: a namespace's name or null")
        if namespace is None and self.end.namespace is not None:
            raise InvalidArgument(
                f"file: {self.what}: exported from a bare backend, it names every collection "
                "in full, which fits no namespace; import it into a bare backend "
                "(handle.raw_backend), or export from a handle"
            )
        if namespace is not None and self.end.namespace is None:
            return replace(self.end, namespace=namespace)
        return self.end

    def _next(self) -> Any:
        while True:
            try:
                raw = self.stream.readline()
            except (EOFError, gzip_module.BadGzipFile, zlib.error) as exc:
                # a gzip file cut short, or whose data or checksum is damaged
                self.number += 1
                raise self.fail(f"damaged gzip data ({exc})") from None
            if not raw:
                return None
            self.number += 1
            if raw.strip():
                break
        try:
            return json.loads(raw, parse_constant=_no_constant, object_pairs_hook=_unique)
        except (ValueError, RecursionError) as exc:
            raise self.fail(f"not JSON ({exc})") from None


_FIELDS: Final = frozenset(
    {"collection", "key", "value", "version", "created_at", "updated_at", "expires_at", "index"}
)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object of a line, refused when a name appears twice in it: JSON readers differ on
    which one counts, so such a line could restore one record here and show another to
    whatever else reads the file. satchel never writes one."""
    found = dict(pairs)
    if len(found) != len(pairs):
        names = [name for name, _ in pairs]
        twice = next(name for i, name in enumerate(names) if name in names[:i])
        raise ValueError(f"the name {twice!r} twice in one object")
    return found


def _record(line: dict[str, Any]) -> tuple[str, Record]:
    missing = sorted(_FIELDS - {"expires_at", "index"} - set(line))
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    name = line["collection"]
    if not isinstance(name, str) or not name:
        raise ValueError(f"collection must be a non-empty string, not {name!r}")
    index = line.get("index") or {}
    if not isinstance(index, dict) or not all(isinstance(v, list) for v in index.values()):
        raise ValueError(f"index must be an object of lists, not {index!r}")
    record = Record(
        name,
        line["key"],
        line["value"],
        line["version"],
        _parse_time(line["created_at"], "created_at"),
        _parse_time(line["updated_at"], "updated_at"),
        _parse_time(line.get("expires_at"), "expires_at"),
        {n: tuple(v) for n, v in index.items()},
    )
    try:
        # what a backend would refuse in the value, refused here, before anything is written
        encode_json(record.value, "value", max_depth=MAX_STORED_DEPTH)
    except InvalidArgument as exc:
        raise ValueError(str(exc)) from None
    check_restore([record])
    return name, record


@contextlib.contextmanager
def _reader(
    file: str | os.PathLike[str] | IO[bytes], shown: str | None = None
) -> Iterator[tuple[IO[bytes], str]]:
    """The lines of ``file``, unzipped, and how errors name it (``shown``, else its path)."""
    if isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        with _opened(path, shown) as raw:
            yield _unzipped(raw), shown or repr(path)
        return
    yield _unzipped(file), "the stream"


def _opened(path: str, shown: str | None = None) -> IO[bytes]:
    try:
        return open(path, "rb")  # the caller closes it
    except OSError as exc:
        what = shown or repr(path)
        raise InvalidArgument(f"file: cannot read {what}: {exc.strerror}") from None


@contextlib.contextmanager
def _rereadable(
    file: str | os.PathLike[str] | IO[bytes], dry_run: bool
) -> Iterator[tuple[str | os.PathLike[str] | IO[bytes], str | None]]:
    """``file`` as :func:`import_` reads it, and the name its errors give: a path that
    names no regular file (a pipe: ``/dev/stdin``, a shell's ``<(zcat backup.gz)``) can be
    read only once, so it is first copied, as it is, to a temporary file, which is then
    checked whole and restored as a regular file is. A regular file's path, a stream, or a
    dry run (read once) are taken as they are."""
    if dry_run or not isinstance(file, (str, os.PathLike)):
        yield file, None
        return
    path = os.fspath(file)
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = True  # reading it says why not
    if regular:
        yield file, None
        return
    with _opened(path) as raw, tempfile.NamedTemporaryFile(prefix="satchel-import-") as spool:
        shutil.copyfileobj(raw, spool)
        spool.flush()
        yield spool.name, repr(path)


class _Borrowed(io.RawIOBase):
    """A caller's stream, read through a buffer that closing (or collecting) leaves it
    open: an import reads it to its end but does not own it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _unzipped(stream: IO[bytes]) -> IO[bytes]:
    buffered: Any = stream
    if not isinstance(stream, io.BufferedReader):
        buffered = io.BufferedReader(_Borrowed(stream))
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        return cast(IO[bytes], gzip_module.GzipFile(fileobj=buffered, mode="rb"))
    return cast(IO[bytes], buffered)


async def import_(
    target: Satchel | Backend,
    file: str | os.PathLike[str] | IO[bytes],
    namespaces: Sequence[str] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
    dry_run: bool = False,
) -> Report:
    """Restore the records of an export (gzip or not) into ``target``, each in the
    namespace it was exported from (or only those in ``namespaces``), in batches of
    ``batch_size``.

    A path is read twice: first every line is checked, so a damaged or truncated file
    raises :class:`~satchel.errors.InvalidArgument` (naming the line) and writes nothing;
    then the records are restored. A path that names a pipe (``/dev/stdin``, a shell's
    ``<(zcat backup.gz)``) is first copied to a temporary file, then read so. A stream is
    read once, and the check of each line comes just before its batch is restored.

    :param dry_run: read and check the file, write nothing.
    :raises Unsupported: the target cannot store records with their metadata; nothing is
        written.
    """
    _check_batch_size(batch_size)
    dst = _end(target, "target")
    await dst.backend.restore_many([])
    if namespaces is not None and (
        isinstance(namespaces, str) or not all(isinstance(n, str) and n for n in namespaces)
    ):
        raise InvalidArgument(f"namespaces: must be a list of namespace names, not {namespaces!r}")
    wanted = None if namespaces is None else set(namespaces)
    with _rereadable(file, dry_run) as (source, shown):
        if isinstance(source, (str, os.PathLike)) and not dry_run:
            with _reader(source, shown) as (stream, what):
                for _ in _Lines(stream, what, dst):
                    pass
        report = Report(dry_run=dry_run)
        done = 0
        batch: list[Record] = []

        async def flush() -> None:
            nonlocal done, batch
            if not dry_run and batch:
                await dst.backend.restore_many(batch)
            now = utcnow()
            report.expired += sum(1 for r in batch if not r.is_live(now))
            done += len(batch)
            if batch:
                _notify(progress, Progress(last, report.records[last], done, None))
            batch = []

        last = ""
        with _reader(source, shown) as (stream, what):
            lines = _Lines(stream, what, dst)
            for name, record in lines:
                dst = lines.end  # set by the header
                if wanted is not None and name not in wanted:
                    continue
                if _is_log(dst.collection(name)):
                    if name not in report.skipped:
                        report.skipped.append(name)
                    continue
                if name != last and batch:
                    await flush()
                last = name
                report.records[name] = report.records.get(name, 0) + 1
                batch.append(replace(record, collection=dst.collection(name)))
                if len(batch) >= batch_size:
                    await flush()
            await flush()
        return report
