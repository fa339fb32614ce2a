"""Where uploaded files live: a local folder by default, an S3-compatible bucket when configured.

    storage = storage_from_settings(settings)
    await storage.put("products/1/abc.png", data, "image/png")
    data = await storage.get("products/1/abc.png")

Keys are relative paths made by the caller (never from user input) and are checked anyway.
"""

from __future__ import annotations

from typing import Protocol

from shopdb.config import Settings


class StorageError(Exception):
    pass


class ObjectNotFound(StorageError):
    pass


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...


def storage_from_settings(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        from shopdb.storage.s3 import S3Storage

        return S3Storage.from_settings(settings)
    from shopdb.storage.local import LocalStorage

    return LocalStorage(settings.storage_dir or settings.var_dir / "storage")
