"""satchel-a2a: the A2A Python SDK's ``TaskStore`` and ``PushNotificationConfigStore``,
keeping tasks and push notification configs in satchel, on whichever backend it is
configured with (memory, Redis, MongoDB)::

    from a2a.server.request_handlers import DefaultRequestHandler
    from satchel_a2a import SatchelPushNotificationConfigStore, SatchelTaskStore

    handler = DefaultRequestHandler(
        agent_executor=executor,
        task_store=SatchelTaskStore(),  # SATCHEL_BACKEND=redis, ...
        agent_card=card,
        push_config_store=SatchelPushNotificationConfigStore(encryption_key=key),
    )

See ``docs/a2a.md``.
"""

from __future__ import annotations

from satchel.shared import close_shared_store, shared_store
from satchel_a2a.errors import InvalidListRequest, PushConfigUnreadable, TaskModified
from satchel_a2a.push import PUSH_CONFIGS_NAMESPACE, SatchelPushNotificationConfigStore
from satchel_a2a.tasks import TASKS_NAMESPACE, SatchelTaskStore
from satchel_a2a.versioned import SatchelVersionedTaskStore

__all__ = [
    "PUSH_CONFIGS_NAMESPACE",
    "TASKS_NAMESPACE",
    "InvalidListRequest",
    "PushConfigUnreadable",
    "SatchelPushNotificationConfigStore",
    "SatchelTaskStore",
    "SatchelVersionedTaskStore",
    "TaskModified",
    "close_shared_store",
    "shared_store",
]
