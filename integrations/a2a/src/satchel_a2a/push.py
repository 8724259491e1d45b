""":class:`SatchelPushNotificationConfigStore`: the A2A SDK's
``PushNotificationConfigStore`` over a satchel KV namespace, with optional encryption."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from a2a.server.context import ServerCallContext
from a2a.server.owner_resolver import OwnerResolver, resolve_user_scope
from a2a.server.tasks.push_notification_config_store import (
    PushNotificationConfigStore,
    normalize_push_notification_config,
)
from a2a.types.a2a_pb2 import TaskPushNotificationConfig

from satchel import ConfigError, CorruptRecord, InvalidArgument, Satchel
from satchel.shared import HandleOwner
from satchel.stores import DEFAULT, Entry, KVStore
from satchel.stores.base import Default
from satchel.validation import check_name, check_ttl
from satchel_a2a.errors import PushConfigUnreadable
from satchel_a2a.records import (
    check_id,
    decode_message,
    encode_message,
    owner_of,
    scoped_key,
)

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

__all__ = ["PUSH_CONFIGS_NAMESPACE", "SatchelPushNotificationConfigStore"]

#: The KV namespace the push notification configs live in by default.
PUSH_CONFIGS_NAMESPACE = "a2a-push-configs"
#: The declared index that finds a task's configs across owners (for dispatch).
TASK_INDEX = "task"
#: The declared index that finds the configs of the task whose id is empty (an index value
#: is never empty, and every other string may be a task id).
EMPTY_TASK_INDEX = "task-empty"

logger = logging.getLogger(__name__)

EncryptionKey = str | bytes


def _task_ids(value: Any) -> list[str]:
    task_id = value.get("task_id") if isinstance(value, dict) else None
    return [task_id] if isinstance(task_id, str) and task_id else []


def _empty_task_id(value: Any) -> list[str]:
    task_id = value.get("task_id") if isinstance(value, dict) else None
    return ["1"] if task_id == "" else []


class SatchelPushNotificationConfigStore(HandleOwner, PushNotificationConfigStore):
    """The A2A SDK's ``PushNotificationConfigStore``, keeping each config in satchel. Give it
    to the SDK's ``DefaultRequestHandler`` (``push_config_store=``) and its push sender.

    Configs are scoped by owner as tasks are (``owner_resolver``, by default the user's
    name); :meth:`get_info_for_dispatch` finds a task's configs of every owner through a
    declared index. With ``encryption_key`` each config is stored as a Fernet token (its
    URL, token and credentials unreadable without the key), as the SDK's database store
    does; configs stored before a key was given are still read.

    :param store: the satchel handle (default: the process's handle, opened from the
        environment on first use).
    :param namespace: the KV namespace of the configs.
    :param owner_resolver: the owner of a call, from its ``ServerCallContext``.
    :param encryption_key: a Fernet key (``Fernet.generate_key()``), or several: the first
        encrypts, each of them decrypts (to rotate keys). Needs ``cryptography``
        (``pip install 'satchel-a2a[encryption]'``).
    :param ttl: seconds (or a ``timedelta``) a config lives after it is set; ``None``:
        forever; default: the handle's ``default_ttl``.
    :raises InvalidArgument: an argument has the wrong type or value; the message names it
        (never the key).
    """

    def __init__(
        self,
        *,
        store: Satchel | None = None,
        namespace: str = PUSH_CONFIGS_NAMESPACE,
        owner_resolver: OwnerResolver = resolve_user_scope,
        encryption_key: EncryptionKey | Sequence[EncryptionKey] | None = None,
        ttl: float | timedelta | Default | None = DEFAULT,
    ) -> None:
        self._init_handle(store)
        if not callable(owner_resolver):
            raise InvalidArgument(
                f"owner_resolver: must be callable, not {type(owner_resolver).__name__}"
            )
        if ttl is not DEFAULT:
            check_ttl(ttl)
        self._namespace = check_name(namespace, "namespace")
        self._ttl = ttl
        self.owner_resolver = owner_resolver
        self._fernet = _fernet(encryption_key) if encryption_key is not None else None
        self._kv: KVStore | None = None

    @property
    def encrypted(self) -> bool:
        """Whether configs are stored encrypted."""
        return self._fernet is not None

    @property
    def kv(self) -> KVStore:
        """The KV namespace the configs are in (key ``owner/task_id/config_id``; value
        ``{"owner", "task_id", "config_id"}`` and ``"config"``, the config in the A2A JSON
        form, or ``"encrypted"``, a Fernet token)."""
        if self._kv is None:
            store = self.store
            indexes = {TASK_INDEX: _task_ids, EMPTY_TASK_INDEX: _empty_task_id}
            if self._ttl is DEFAULT:
                self._kv = store.kv(self._namespace, indexes=indexes)
            else:
                self._kv = store.kv(self._namespace, ttl=self._ttl, indexes=indexes)
        return self._kv

    # -- the PushNotificationConfigStore interface ------------------------------------------

    async def set_info(
        self,
        task_id: str,
        notification_config: TaskPushNotificationConfig,
        context: ServerCallContext,
    ) -> TaskPushNotificationConfig:
        """Set (create or replace) the call's owner's config for ``task_id``: the config
        with its ``task_id`` set and an empty ``id`` defaulted to the task id, as the SDK
        normalises it; return that config."""
        owner = owner_of(context, self.owner_resolver)
        check_id(task_id, "task_id")
        if not isinstance(notification_config, TaskPushNotificationConfig):
            raise InvalidArgument(
                "notification_config: must be the SDK's TaskPushNotificationConfig, "
                f"not {type(notification_config).__name__}"
            )
        config = normalize_push_notification_config(task_id, notification_config)
        check_id(config.id, "notification_config.id")
        body = encode_message(config, "notification_config")
        value: dict[str, Any] = {"owner": owner, "task_id": task_id, "config_id": config.id}
        if self._fernet is None:
            value["config"] = body
        else:
            sealed = json.dumps({"owner": owner, "config": body}, separators=(",", ":"))
            value["encrypted"] = self._fernet.encrypt(sealed.encode()).decode()
        await self.kv.set(scoped_key(owner, task_id, config.id), value)
        return config

    async def get_info(
        self, task_id: str, context: ServerCallContext
    ) -> list[TaskPushNotificationConfig]:
        """The call's owner's configs for ``task_id``, by config id: a read of the key range
        of the owner's configs of that task.

        :raises PushConfigUnreadable: a config cannot be decrypted with this store's keys
            (or its record is not one); the owner's own read says so rather than leave it
            out.
        """
        owner = owner_of(context, self.owner_resolver)
        entries = await self._task_entries(owner, task_id)
        return [self._config(entry) for entry in entries]

    async def get_info_for_dispatch(self, task_id: str) -> list[TaskPushNotificationConfig]:
        """Every owner's configs for ``task_id`` (for the push sender), by owner then
        config id: one lookup of a declared index.

        A config that cannot be read (encrypted with a key this store does not hold, or a
        corrupted record) is left out with a warning on the ``satchel_a2a.push`` logger
        naming the task and the config (never a key or a secret of a config), so that the
        task's other subscribers are still notified.
        """
        check_id(task_id, "task_id")
        if task_id:
            entries = await self.kv.find(TASK_INDEX, task_id)
        else:  # an index holds no empty string: the empty id has an index of its own
            entries = await self.kv.find(EMPTY_TASK_INDEX, "1")
        configs = []
        for entry in entries:
            try:
                configs.append(self._config(entry))
            except CorruptRecord as exc:
                logger.warning(
                    "push notification config %r of task %r left out of dispatch: %s",
                    _config_id(entry),
                    task_id,
                    exc if isinstance(exc, PushConfigUnreadable) else "the record is not one",
                )
        return configs

    async def delete_info(
        self, task_id: str, context: ServerCallContext, config_id: str | None = None
    ) -> None:
        """Delete the call's owner's config ``config_id`` of ``task_id``, or all of the
        owner's configs of the task when ``config_id`` is ``None`` (found in the key range
        of that task's configs, then deleted at once)."""
        owner = owner_of(context, self.owner_resolver)
        if config_id is not None:
            check_id(task_id, "task_id")
            await self.kv.delete(scoped_key(owner, task_id, check_id(config_id, "config_id")))
            return
        entries = await self._task_entries(owner, task_id, keys_only=True)
        await asyncio.gather(*(self.kv.delete(entry.key) for entry in entries))

    # -- helpers ----------------------------------------------------------------------------

    async def _task_entries(
        self, owner: str, task_id: str, *, keys_only: bool = False
    ) -> list[Entry]:
        """The records of ``owner``'s configs of ``task_id``: a key range, never a scan."""
        prefix = scoped_key(owner, check_id(task_id, "task_id"), "")
        select = ["config_id"] if keys_only else None
        page = await self.kv.query([("key", "startswith", prefix)], select=select)
        return page.items

    def _config(self, entry: Entry) -> TaskPushNotificationConfig:
        value = entry.value
        what = f"push notification config {entry.key!r}"
        if not isinstance(value, dict):
            return decode_message(None, TaskPushNotificationConfig(), what)
        if "encrypted" not in value:
            return decode_message(value.get("config"), TaskPushNotificationConfig(), what)
        config_id, task_id = value.get("config_id"), value.get("task_id")
        named = f"push notification config {config_id!r} of task {task_id!r}"
        if self._fernet is None:
            raise PushConfigUnreadable(
                f"{named}: it is stored encrypted and this store has no encryption_key; "
                "give the key it was written with"
            )
        from cryptography.fernet import InvalidToken

        token = value["encrypted"]
        try:
            sealed = json.loads(self._fernet.decrypt(str(token).encode()))
        except InvalidToken:
            raise PushConfigUnreadable(
                f"{named}: this store's encryption_key cannot decrypt it (it was written "
                "with another key); give that key too (the first key encrypts, each decrypts)"
            ) from None
        except ValueError:  # decrypted, but not what this store seals
            raise PushConfigUnreadable(
                f"{named}: its decrypted form is not a sealed config; it is refused"
            ) from None
        if not isinstance(sealed, dict) or sealed.get("owner") != value.get("owner"):
            raise PushConfigUnreadable(
                f"{named}: its encrypted form was written for another owner; it is refused"
            )
        try:
            config = decode_message(sealed.get("config"), TaskPushNotificationConfig(), what)
        except CorruptRecord:  # its message could quote the decrypted config
            raise PushConfigUnreadable(
                f"{named}: its decrypted form is not a config; it is refused"
            ) from None
        if config.task_id != task_id or config.id != config_id:
            raise PushConfigUnreadable(
                f"{named}: its encrypted form was written for another task or config; it is refused"
            )
        return config

    def __repr__(self) -> str:
        where = repr(self._kv) if self._kv is not None else f"namespace {self._namespace!r}"
        sealed = ", encrypted" if self._fernet is not None else ""
        return f"<SatchelPushNotificationConfigStore {where}{sealed}>"


def _config_id(entry: Entry) -> str:
    """The config id of a config record (from its key when its value is not one)."""
    value = entry.value
    config_id = value.get("config_id") if isinstance(value, dict) else None
    return config_id if isinstance(config_id, str) else entry.key.rsplit("/", 1)[-1]


def _fernet(key: EncryptionKey | Sequence[EncryptionKey]) -> MultiFernet:
    """The Fernet of ``key`` (or keys); the key never appears in an error."""
    try:
        from cryptography.fernet import Fernet, MultiFernet
    except ImportError:
        raise ConfigError(
            "encryption_key: encrypting push notification configs needs the cryptography "
            "package: pip install 'satchel-a2a[encryption]'"
        ) from None
    keys = [key] if isinstance(key, (str, bytes)) else key
    if not isinstance(keys, Sequence) or not keys:
        raise InvalidArgument(
            "encryption_key: must be a Fernet key (str or bytes) or a non-empty list of them, "
            f"not {type(key).__name__}"
        )
    fernets = []
    for i, one in enumerate(keys):
        argument = "encryption_key" if keys is not key else f"encryption_key[{i}]"
        if not isinstance(one, (str, bytes)):
            raise InvalidArgument(
                f"{argument}: must be a Fernet key (str or bytes), not {type(one).__name__}"
            )
        try:
            fernets.append(Fernet(one.encode() if isinstance(one, str) else one))
        except (ValueError, TypeError, UnicodeEncodeError):
            raise InvalidArgument(
                f"{argument}: is not a Fernet key (32 url-safe base64-encoded bytes; "
                "Fernet.generate_key() makes one)"
            ) from None
    return MultiFernet(fernets)
