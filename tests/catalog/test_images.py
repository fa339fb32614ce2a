from __future__ import annotations

import asyncio
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import ImageLimitExceeded
from shopdb.catalog.images import service as images
from shopdb.catalog.products import service as products
from shopdb.catalog.products.schemas import ProductCreate
from shopdb.catalog.rules import MAX_IMAGES
from shopdb.db import Database
from shopdb.models import Job, ProductImage
from shopdb.services import services_of
from shopdb.storage.local import LocalStorage
from tests.fixtures.catalog import Headers, ProductFactory
from tests.jobs.helpers import run_jobs


def png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def gif(width: int = 5, height: int = 4) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00;"


def jpeg(width: int = 7, height: int = 6) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", 4) + b"JF" + sof + b"\xff\xd9"


def webp(width: int = 9, height: int = 8) -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


async def upload(
    client: httpx.AsyncClient,
    headers: Headers,
    product: dict[str, Any],
    data: bytes,
    content_type: str = "image/png",
    **form: str,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/products/{product['id']}/images",
        files={"file": ("picture", data, content_type)},
        data=form,
        headers=headers,
    )


class TestUpload:
    @pytest.mark.parametrize(
        ("data", "content_type", "size"),
        [
            (png(3, 2), "image/png", (3, 2)),
            (gif(5, 4), "image/gif", (5, 4)),
            (jpeg(7, 6), "image/jpeg", (7, 6)),
            (webp(9, 8), "image/webp", (9, 8)),
        ],
    )
    async def test_stores_and_serves_the_bytes(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        data: bytes,
        content_type: str,
        size: tuple[int, int],
    ) -> None:
        product = await make_product()
        response = await upload(client, admin, product, data, content_type, alt="Front")
        assert response.status_code == 201, response.text
        image = response.json()
        assert (image["contentType"], image["sizeBytes"]) == (content_type, len(data))
        assert (image["width"], image["height"]) == size
        assert image["alt"] == "Front"
        assert image["position"] == 1
        served = await client.get(image["src"], headers=admin)
        assert served.status_code == 200
        assert served.content == data
        assert served.headers["content-type"] == content_type
        detail = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert [i["id"] for i in detail.json()["images"]] == [image["id"]]
        listed = await client.get("/api/v1/products", headers=admin)
        assert listed.json()["items"] == [detail.json()]

    async def test_content_is_checked_by_its_bytes(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        fake = await upload(client, admin, product, b"<svg>not allowed</svg>", "image/png")
        assert fake.status_code == 400
        assert fake.json()["details"] == [
            {"field": "file", "message": "is not a PNG, JPEG, GIF or WebP image"}
        ]
        lying = await upload(client, admin, product, png(), "image/jpeg")
        assert lying.status_code == 400
        assert "declared as image/jpeg" in lying.json()["details"][0]["message"]
        empty = await upload(client, admin, product, b"", "image/png")
        assert empty.status_code == 400
        listed = await client.get(f"/api/v1/products/{product['id']}/images", headers=admin)
        assert listed.json() == []

    async def test_size_limit_is_413(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        services_of(app).settings.image_max_bytes = 40
        try:
            response = await upload(client, admin, product, png(20, 20))
        finally:
            services_of(app).settings.image_max_bytes = 5 * 1024 * 1024
        assert response.status_code == 413
        assert response.json()["details"][0]["field"] == "file"


class TestOrderAndDelete:
    async def test_positions_shift_and_deleted_files_go(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        product = await make_product()
        ids = [(await upload(client, admin, product, png(i + 1, 1))).json()["id"] for i in range(3)]
        base = f"/api/v1/products/{product['id']}/images"

        moved = await client.put(f"{base}/{ids[2]}", json={"position": 1}, headers=admin)
        assert moved.status_code == 200
        listed = await client.get(base, headers=admin)
        assert [(i["id"], i["position"]) for i in listed.json()] == [
            (ids[2], 1),
            (ids[0], 2),
            (ids[1], 3),
        ]

        storage_root = Path(services_of(app).settings.var_dir) / "storage"
        key = next(storage_root.rglob("*.png"))
        assert key.exists()
        files_before = set(storage_root.rglob("*.png"))
        deleted = await client.delete(f"{base}/{ids[0]}", headers=admin)
        assert deleted.status_code == 204
        listed = await client.get(base, headers=admin)
        assert [(i["id"], i["position"]) for i in listed.json()] == [(ids[2], 1), (ids[1], 2)]
        # The file goes once the deletion committed, through the job it enqueued.
        assert set(storage_root.rglob("*.png")) == files_before
        assert await run_jobs(app) == 1
        assert len(files_before - set(storage_root.rglob("*.png"))) == 1
        assert (await client.get(f"{base}/{ids[0]}/file", headers=admin)).status_code == 404

    async def test_variant_must_belong_to_the_product(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product("A")
        other = await make_product("B")
        response = await upload(
            client, admin, product, png(), variantId=str(other["variants"][0]["id"])
        )
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "variantId"
        ok = await upload(
            client, admin, product, png(), variantId=str(product["variants"][0]["id"])
        )
        assert ok.json()["variantId"] == product["variants"][0]["id"]


class TestDeletedFilesGoAfterCommitOnly:
    async def test_a_rolled_back_deletion_keeps_its_file_and_queues_nothing(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        database: Database,
    ) -> None:
        product = await make_product()
        image = (await upload(client, admin, product, png())).json()
        storage_root = Path(services_of(app).settings.var_dir) / "storage"
        files = set(storage_root.rglob("*.png"))

        async def delete_then_fail() -> None:
            async with database.session() as session:
                await images.delete_image(session, product["id"], image["id"], actor="test")
                raise RuntimeError("the transaction fails after the delete")

        with pytest.raises(RuntimeError, match="after the delete"):
            await delete_then_fail()

        assert await run_jobs(app) == 0
        assert set(storage_root.rglob("*.png")) == files
        still = await client.get(
            f"/api/v1/products/{product['id']}/images/{image['id']}/file", headers=admin
        )
        assert still.status_code == 200

    async def test_a_committed_deletion_queues_the_files_removal(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        database: Database,
    ) -> None:
        product = await make_product()
        image = (await upload(client, admin, product, png())).json()

        async with database.session() as session:
            await images.delete_image(session, product["id"], image["id"], actor="test")
            queued = list(await session.scalars(select(Job).where(Job.kind == "files/delete")))

        assert [
            (j.status, j.payload["key"].startswith(f"products/{product['id']}/")) for j in queued
        ] == [("queued", True)]
        key = queued[0].payload["key"]
        storage_root = Path(services_of(app).settings.var_dir) / "storage"
        assert (storage_root / key).exists()
        assert await run_jobs(app) == 1
        assert not (storage_root / key).exists()


async def add_links(session: AsyncSession, product_id: int, count: int) -> None:
    """`count` linked images (as a CSV import adds them), in one INSERT."""
    await session.execute(
        insert(ProductImage),
        [
            {"product_id": product_id, "src": f"https://cdn.example.com/{n}.png", "position": n}
            for n in range(1, count + 1)
        ],
    )


async def image_count(session: AsyncSession, product_id: int) -> int:
    statement = select(func.count()).where(ProductImage.product_id == product_id)
    return int(await session.scalar(statement) or 0)


class TestImageLimit:
    async def test_the_251st_image_is_409_and_nothing_is_stored(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        await add_links(db_session, product["id"], MAX_IMAGES - 1)
        storage_root = Path(services_of(app).settings.var_dir) / "storage"

        last = await upload(client, admin, product, png())
        assert last.status_code == 201, last.text
        assert last.json()["position"] == 250
        files = set(storage_root.rglob("*"))

        refused = await upload(client, admin, product, png())

        assert refused.status_code == 409
        assert refused.json()["code"] == "IMAGE_LIMIT_EXCEEDED"
        assert refused.json()["details"] == [
            {"field": "file", "message": "at most 250 images per product"}
        ]
        assert await image_count(db_session, product["id"]) == 250
        assert set(storage_root.rglob("*")) == files  # checked before the bytes are stored

    async def test_links_past_the_limit_are_refused_before_any_is_added(
        self, make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        product = await make_product()
        await add_links(db_session, product["id"], MAX_IMAGES - 2)
        links = [(f"https://cdn.example.com/new-{n}.png", None, None) for n in range(3)]
        # A link the product already has does not count.
        links.append(("https://cdn.example.com/1.png", None, None))

        with pytest.raises(ImageLimitExceeded) as refused:
            await images.add_linked_images(db_session, product["id"], links)

        assert refused.value.details == [
            {"field": "images", "message": "at most 250 images per product"}
        ]
        assert await image_count(db_session, product["id"]) == MAX_IMAGES - 2
        assert await images.add_linked_images(db_session, product["id"], links[1:])
        assert await image_count(db_session, product["id"]) == MAX_IMAGES


@pytest.mark.postgres_only
class TestConcurrentUploads:
    async def test_uploads_at_once_never_pass_the_limit(
        self, live_postgres: Database, tmp_path: Path
    ) -> None:
        async with live_postgres.session() as session:
            data = ProductCreate.model_validate({"title": "Poster", "variants": [{"price": "1"}]})
            product_id = (await products.create_product(session, data, actor="test")).id
            await add_links(session, product_id, MAX_IMAGES - 2)
            await session.commit()
        storage = LocalStorage(tmp_path)

        async def send() -> str:
            async with live_postgres.session() as session:
                try:
                    await images.upload_image(
                        session,
                        storage,
                        product_id,
                        images.Upload(png(), "image/png"),
                        max_bytes=1_000_000,
                        actor="test",
                    )
                except ImageLimitExceeded:
                    return "refused"
                await session.commit()
                return "created"

        outcomes = await asyncio.wait_for(asyncio.gather(*(send() for _ in range(5))), 60)

        assert sorted(outcomes) == ["created"] * 2 + ["refused"] * 3
        async with live_postgres.session() as session:
            assert await image_count(session, product_id) == MAX_IMAGES
            positions = await session.scalars(
                select(ProductImage.position)
                .where(ProductImage.product_id == product_id)
                .order_by(ProductImage.position)
            )
            assert list(positions) == list(range(1, MAX_IMAGES + 1))
