from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopdb.config import Settings
from shopdb.storage import ObjectNotFound, StorageError, storage_from_settings
from shopdb.storage.local import LocalStorage
from shopdb.storage.s3 import S3Storage


class TestLocalStorage:
    async def test_put_get_delete(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path)
        await storage.put("products/1/a.png", b"bytes", "image/png")
        assert (tmp_path / "products/1/a.png").read_bytes() == b"bytes"
        assert await storage.get("products/1/a.png") == b"bytes"
        await storage.delete("products/1/a.png")
        with pytest.raises(ObjectNotFound):
            await storage.get("products/1/a.png")
        await storage.delete("products/1/a.png")  # deleting twice is fine

    @pytest.mark.parametrize("key", ["../escape.png", "/etc/passwd", "a/../../b", "", ".hidden"])
    async def test_keys_cannot_leave_the_folder(self, tmp_path: Path, key: str) -> None:
        with pytest.raises(StorageError):
            await LocalStorage(tmp_path / "root").put(key, b"x", "image/png")

    def test_is_the_default_under_var(self, tmp_path: Path) -> None:
        storage = storage_from_settings(Settings(var_dir=tmp_path))
        assert isinstance(storage, LocalStorage)
        assert storage.root == (tmp_path / "storage").resolve()


@pytest.fixture
def s3_storage() -> Iterator[S3Storage]:
    """An in-process S3 (moto): the same boto3 calls, no network."""
    from moto import mock_aws

    with mock_aws():
        settings = Settings(
            storage_backend="s3",
            s3_bucket="shopdb-test",
            s3_prefix="media",
            s3_access_key_id="test",
            s3_secret_access_key="test",
        )
        storage = storage_from_settings(settings)
        assert isinstance(storage, S3Storage)
        storage.client.create_bucket(Bucket="shopdb-test")
        yield storage


class TestS3Storage:
    async def test_put_get_delete(self, s3_storage: S3Storage) -> None:
        await s3_storage.put("products/1/a.png", b"bytes", "image/png")
        stored: dict[str, Any] = s3_storage.client.get_object(
            Bucket="shopdb-test", Key="media/products/1/a.png"
        )
        assert stored["ContentType"] == "image/png"
        assert await s3_storage.get("products/1/a.png") == b"bytes"
        await s3_storage.delete("products/1/a.png")
        with pytest.raises(ObjectNotFound):
            await s3_storage.get("products/1/a.png")

    def test_bucket_is_required(self) -> None:
        with pytest.raises(ValueError, match="SHOPDB_S3_BUCKET"):
            storage_from_settings(Settings(storage_backend="s3"))
