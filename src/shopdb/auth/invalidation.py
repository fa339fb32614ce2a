"""Forgetting cached standings (shopdb.auth.access) after commit, in every worker.

A service that changes a user's standing (active, role, grants, password, deletion) notes the
user in its session (`note_access_changed`). After the unit of work commits, and before the
response leaves, `AccessInvalidation.after_commit` forgets those users in this worker's cache
and, with Redis, publishes their ids on `ACCESS_CHANNEL`; every worker's subscriber forgets
them as well. Without Redis, other workers see the change within SHOPDB_AUTH_CACHE_SECONDS.

Pub/sub delivers at most once: a subscriber that lost its connection may have missed ids, so
on every (re)subscription it forgets everything it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.access import AccessCache, take_access_changes

log = structlog.get_logger(__name__)

ACCESS_CHANNEL = "shopdb:auth:forget"
RESUBSCRIBE_DELAY_SECONDS = 1.0
CLOSE_TIMEOUT_SECONDS = 1.0


class AccessInvalidation:
    def __init__(
        self,
        cache: Callable[[], AccessCache],
        redis: Any | None,
        *,
        channel: str = ACCESS_CHANNEL,
    ) -> None:
        # A callable, not the cache: the application may replace its cache (tests do).
        self._cache = cache
        self.redis = redis
        self.channel = channel
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def after_commit(self, session: AsyncSession) -> None:
        """A Database.after_commit hook; never raises (the change is already committed)."""
        changed = take_access_changes(session)
        if not changed:
            return
        cache = self._cache()
        for user_id in changed:
            cache.forget(user_id)
        if self.redis is None:
            return
        try:
            for user_id in sorted(changed):
                await self.redis.publish(self.channel, str(user_id))
        except Exception as exc:
            # Other workers then see the change within SHOPDB_AUTH_CACHE_SECONDS.
            log.warning("access_invalidation_unpublished", error=f"{type(exc).__name__}: {exc}")

    def start(self) -> None:
        """Subscribe this worker to other workers' invalidations (with Redis only)."""
        if self.redis is not None and self._task is None:
            self._task = asyncio.create_task(self._listen(), name="access-invalidation")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # Bounded: a subscription cancelled mid-handshake can leave redis-py's connection
            # waiting on itself; shutting down must not wait with it.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, CLOSE_TIMEOUT_SECONDS)
            self._task = None

    async def _listen(self) -> None:
        assert self.redis is not None
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._cache().forget_all()  # what was published while unsubscribed is lost
                self.subscribed.set()
                async for message in pubsub.listen():
                    self._forget(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "access_invalidation_unsubscribed", error=f"{type(exc).__name__}: {exc}"
                )
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), CLOSE_TIMEOUT_SECONDS)
            await asyncio.sleep(RESUBSCRIBE_DELAY_SECONDS)

    def _forget(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            user_id = int(message["data"])
        except (TypeError, ValueError):
            return
        self._cache().forget(user_id)
