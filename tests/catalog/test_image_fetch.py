"""Images created from a `src` URL: the row at once, the bytes downloaded by an `images/fetch`
job through the queue, bounded (size, time, redirects) and never from private addresses unless
SHOPDB_IMAGE_FETCH_ALLOW_PRIVATE allows it (a local HTTP server on 127.0.0.1 serves the files)."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.images.fetch import refused_address
from shopdb.catalog.rules import MAX_IMAGES
from shopdb.config import Environment, Settings
from shopdb.kit.crypto import generate_key
from shopdb.models import Job
from shopdb.services import services_of
from tests.catalog.test_images import add_links, png
from tests.fixtures.catalog import Headers, ProductFactory
from tests.jobs.helpers import run_jobs

PICTURE = png(4, 3)
LIMIT = 2_000


class Files(BaseHTTPRequestHandler):
    """What the test server answers, by path; `hits` counts the requests to each path."""

    hits: Counter[str] = Counter()
    hosts: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Length" not in (headers or {}) and body is not None:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        Files.hits[path] += 1
        Files.hosts.append(self.headers.get("Host", ""))
        if path == "/ok.png":
            self._send(200, PICTURE, {"Content-Type": "image/png"})
        elif path == "/big.png":
            self._send(200, PICTURE + b"\x00" * LIMIT, {"Content-Type": "image/png"})
        elif path == "/endless.png":
            # No Content-Length: the body runs until the connection closes, far past the cap;
            # the download must stop reading on its own.
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                self.wfile.write(PICTURE)
                for _ in range(10_000):
                    self.wfile.write(b"\x00" * 1024)
            except OSError:
                Files.hits["endless-cut"] += 1
        elif path == "/page.html":
            self._send(200, b"<html>not an image</html>", {"Content-Type": "image/png"})
        elif path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        elif path in ("/hop1", "/hop2", "/hop3"):
            self._send(302, b"", {"Location": f"/hop{int(path[-1]) + 1}"})
        elif path == "/hop4":
            self._send(302, b"", {"Location": "/ok.png"})
        elif path == "/two-hops":
            self._send(301, b"", {"Location": "/hop3"})
        elif path == "/broken":
            self._send(500, b"oops")
        elif path == "/slow.png":
            time.sleep(1.5)
            self._send(200, PICTURE, {"Content-Type": "image/png"})
        else:
            self._send(404, b"no such file")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def fetching(app: FastAPI) -> Iterator[Settings]:
    """The app's settings, with downloads from 127.0.0.1 allowed and a small size cap."""
    settings = services_of(app).settings
    saved = (
        settings.image_fetch_allow_private,
        settings.image_max_bytes,
        settings.image_fetch_timeout_seconds,
    )
    settings.image_fetch_allow_private = True
    settings.image_max_bytes = LIMIT
    Files.hits.clear()
    Files.hosts.clear()
    try:
        yield settings
    finally:
        (
            settings.image_fetch_allow_private,
            settings.image_max_bytes,
            settings.image_fetch_timeout_seconds,
        ) = saved


async def create(
    client: httpx.AsyncClient, headers: Headers, product: dict[str, Any], **body: Any
) -> httpx.Response:
    return await client.post(f"/api/v1/products/{product['id']}/images", json=body, headers=headers)


async def image_of(
    client: httpx.AsyncClient, headers: Headers, product: dict[str, Any], image_id: int
) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/products/{product['id']}/images/{image_id}", headers=headers
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def fetch_jobs(session: AsyncSession) -> list[Job]:
    rows = await session.scalars(
        select(Job)
        .where(Job.kind == "images/fetch")
        .order_by(Job.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


class TestFromSrc:
    async def test_the_row_comes_at_once_and_the_worker_fetches_the_bytes(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
        fetching: Settings,
        server: str,
    ) -> None:
        product = await make_product()
        variant_id = product["variants"][0]["id"]
        response = await create(
            client, admin, product, src=f"{server}/ok.png", alt="Front", variantId=variant_id
        )
        assert response.status_code == 201, response.text
        image = response.json()
        assert image["status"] == "processing"
        assert (image["src"], image["alt"], image["position"]) == (f"{server}/ok.png", "Front", 1)
        assert (image["contentType"], image["sizeBytes"], image["width"]) == (None, None, None)
        assert (image["errorCode"], image["errorMessage"]) == (None, None)
        assert image["variantId"] == variant_id
        not_yet = await client.get(
            f"/api/v1/products/{product['id']}/images/{image['id']}/file", headers=admin
        )
        assert not_yet.status_code == 404
        jobs = await fetch_jobs(db_session)
        assert [(j.status, j.payload) for j in jobs] == [
            ("queued", {"productId": product["id"], "imageId": image["id"]})
        ]

        assert await run_jobs(app) == 1

        done = await image_of(client, admin, product, image["id"])
        assert done["status"] == "ready"
        assert (done["contentType"], done["sizeBytes"]) == ("image/png", len(PICTURE))
        assert (done["width"], done["height"]) == (4, 3)
        assert done["src"] == f"/api/v1/products/{product['id']}/images/{image['id']}/file"
        served = await client.get(done["src"], headers=admin)
        assert served.content == PICTURE
        assert served.headers["content-type"] == "image/png"
        detail = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert detail.json()["images"] == [done]
        job = (await fetch_jobs(db_session))[0]
        assert (job.status, job.result) == (
            "completed",
            {"imageId": image["id"], "sizeBytes": len(PICTURE)},
        )
        assert Files.hits["/ok.png"] == 1

    async def test_a_host_name_is_connected_to_at_its_checked_address(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        fetching: Settings,
        server: str,
    ) -> None:
        # The connection goes to the address the check resolved; the server still sees the
        # URL's own host name.
        product = await make_product()
        port = server.rsplit(":", 1)[1]
        image = (await create(client, admin, product, src=f"http://localhost:{port}/ok.png")).json()

        assert await run_jobs(app) == 1

        assert (await image_of(client, admin, product, image["id"]))["status"] == "ready"
        assert Files.hosts == [f"localhost:{port}"]

    async def test_redirects_are_followed_up_to_three(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        fetching: Settings,
        server: str,
    ) -> None:
        product = await make_product()
        followed = (await create(client, admin, product, src=f"{server}/two-hops")).json()
        too_many = (await create(client, admin, product, src=f"{server}/hop1")).json()
        looping = (await create(client, admin, product, src=f"{server}/loop")).json()

        assert await run_jobs(app) == 3

        assert (await image_of(client, admin, product, followed["id"]))["status"] == "ready"
        for image in (too_many, looping):
            failed = await image_of(client, admin, product, image["id"])
            assert (failed["status"], failed["errorCode"], failed["errorMessage"]) == (
                "failed",
                "IMAGE_DOWNLOAD_FAILURE",
                "More than 3 redirects",
            )
        assert Files.hits["/loop"] == 4  # the first request and three redirects, no more
        assert Files.hits["/ok.png"] == 1  # /two-hops -> /hop3 -> /hop4 -> /ok.png

    @pytest.mark.parametrize(
        ("path", "code", "message"),
        [
            ("/big.png", "INVALID_IMAGE_FILE_SIZE", f"The image is larger than {LIMIT} bytes"),
            ("/endless.png", "INVALID_IMAGE_FILE_SIZE", f"The image is larger than {LIMIT} bytes"),
            (
                "/page.html",
                "UNSUPPORTED_IMAGE_FILE_TYPE",
                "The file is not a PNG, JPEG, GIF or WebP image",
            ),
            ("/missing.png", "IMAGE_DOWNLOAD_FAILURE", "The server answered 404"),
        ],
    )
    async def test_what_no_retry_can_change_fails_at_once(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
        fetching: Settings,
        server: str,
        path: str,
        code: str,
        message: str,
    ) -> None:
        product = await make_product()
        image = (await create(client, admin, product, src=f"{server}{path}")).json()

        assert await run_jobs(app) == 1

        failed = await image_of(client, admin, product, image["id"])
        assert (failed["status"], failed["errorCode"], failed["errorMessage"]) == (
            "failed",
            code,
            message,
        )
        assert failed["src"] == f"{server}{path}"  # the source stays, for the merchant to fix
        assert failed["sizeBytes"] is None
        job = (await fetch_jobs(db_session))[0]
        assert (job.status, job.attempts, job.error) == ("failed", 1, message)
        jobs = await client.get(f"/api/v1/jobs/{job.id}", headers=admin)
        assert (jobs.json()["status"], jobs.json()["error"]) == ("failed", message)
        assert Files.hits[path] == 1

    async def test_server_errors_and_timeouts_are_retried_then_fail(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
        fetching: Settings,
        server: str,
    ) -> None:
        fetching.image_fetch_timeout_seconds = 0.3
        product = await make_product()
        broken = (await create(client, admin, product, src=f"{server}/broken")).json()
        slow = (await create(client, admin, product, src=f"{server}/slow.png")).json()

        await run_jobs(app)  # retries are due at once in tests: every attempt runs

        failed = await image_of(client, admin, product, broken["id"])
        assert (failed["status"], failed["errorCode"], failed["errorMessage"]) == (
            "failed",
            "IMAGE_DOWNLOAD_FAILURE",
            "The server answered 500",
        )
        timed_out = await image_of(client, admin, product, slow["id"])
        assert (timed_out["status"], timed_out["errorCode"]) == ("failed", "IMAGE_DOWNLOAD_FAILURE")
        assert timed_out["errorMessage"] == "The download took more than 0.3 s"
        jobs = await fetch_jobs(db_session)
        assert [(j.status, j.attempts) for j in jobs] == [("failed", 5), ("failed", 5)]
        assert Files.hits["/broken"] == 5

    async def test_an_image_deleted_before_its_download_is_not_fetched(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
        fetching: Settings,
        server: str,
    ) -> None:
        product = await make_product()
        image = (await create(client, admin, product, src=f"{server}/ok.png")).json()
        deleted = await client.delete(
            f"/api/v1/products/{product['id']}/images/{image['id']}", headers=admin
        )
        assert deleted.status_code == 204

        assert await run_jobs(app) == 1

        assert Files.hits["/ok.png"] == 0
        job = (await fetch_jobs(db_session))[0]
        assert (job.status, job.result) == ("completed", {"skipped": True})
        listed = await client.get(f"/api/v1/products/{product['id']}/images", headers=admin)
        assert listed.json() == []


class TestRequest:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "src"),
            ({"src": "ftp://cdn.example.com/a.png"}, "src"),
            ({"src": "/relative.png"}, "src"),
            ({"src": "https://user:secret@cdn.example.com/a.png"}, "src"),
            ({"src": "https://cdn.example.com/" + "a" * 2048}, "src"),
            ({"src": "https://cdn.example.com/a.png", "position": 0}, "position"),
            ({"src": "https://cdn.example.com/a.png", "alt": "x" * 513}, "alt"),
            ({"src": "https://cdn.example.com/a.png", "colour": "red"}, "colour"),
        ],
    )
    async def test_bad_input_is_400_naming_the_field(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
        body: dict[str, Any],
        field: str,
    ) -> None:
        product = await make_product()
        response = await create(client, admin, product, **body)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert [d["field"] for d in response.json()["details"]] == [field]
        assert await fetch_jobs(db_session) == []

    async def test_malformed_json_and_a_missing_file_are_400(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        url = f"/api/v1/products/{product['id']}/images"
        malformed = await client.post(
            url, content=b"{", headers={**admin, "Content-Type": "application/json"}
        )
        assert malformed.status_code == 400
        assert malformed.json()["details"][0]["field"] == "body"
        nothing = await client.post(url, data={"alt": "Front"}, headers=admin)
        assert nothing.status_code == 400
        assert nothing.json()["details"][0]["field"] == "file"

    async def test_the_variant_must_belong_to_the_product(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        other = await make_product("Other", handle="other")
        response = await create(
            client,
            admin,
            product,
            src="https://cdn.example.com/a.png",
            variantId=other["variants"][0]["id"],
        )
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "variantId"

    async def test_the_251st_image_is_409_and_queues_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        await add_links(db_session, product["id"], MAX_IMAGES - 1)
        last = await create(
            client, admin, product, src="https://cdn.example.com/last.png", position=1
        )
        assert last.status_code == 201, last.text
        assert last.json()["position"] == 1

        refused = await create(client, admin, product, src="https://cdn.example.com/more.png")

        assert refused.status_code == 409
        assert refused.json()["code"] == "IMAGE_LIMIT_EXCEEDED"
        assert refused.json()["details"] == [
            {"field": "src", "message": "at most 250 images per product"}
        ]
        assert len(await fetch_jobs(db_session)) == 1


class TestPrivateAddresses:
    @pytest.mark.parametrize(
        "src",
        [
            "http://127.0.0.1:{port}/ok.png",
            "http://localhost:{port}/ok.png",
            "http://10.1.2.3/ok.png",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:{port}/ok.png",
            "http://[::ffff:127.0.0.1]:{port}/ok.png",
            "https://192.168.0.10/ok.png",
            "http://0.0.0.0:{port}/ok.png",
        ],
    )
    async def test_are_refused_before_connecting(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
        fetching: Settings,
        server: str,
        src: str,
    ) -> None:
        fetching.image_fetch_allow_private = False
        product = await make_product()
        source = src.format(port=server.rsplit(":", 1)[1])
        image = (await create(client, admin, product, src=source)).json()

        assert await run_jobs(app) == 1

        failed = await image_of(client, admin, product, image["id"])
        assert (failed["status"], failed["errorCode"]) == ("failed", "IMAGE_SOURCE_REFUSED")
        assert "public addresses only" in failed["errorMessage"]
        job = (await fetch_jobs(db_session))[0]
        assert (job.status, job.attempts) == ("failed", 1)  # not retried
        assert sum(Files.hits.values()) == 0  # nothing reached the server

    @pytest.mark.parametrize(
        ("address", "refused"),
        [
            ("127.0.0.1", True),
            ("10.0.0.1", True),
            ("172.16.5.4", True),
            ("192.168.1.1", True),
            ("169.254.169.254", True),
            ("100.64.0.1", True),  # carrier-grade NAT
            ("0.0.0.0", True),  # noqa: S104 - an address under test, not a binding
            ("224.0.0.1", True),
            ("240.0.0.1", True),
            ("255.255.255.255", True),
            ("::1", True),
            ("fe80::1", True),
            ("fc00::1", True),
            ("ff02::1", True),
            ("::ffff:10.0.0.1", True),
            ("::", True),
            ("93.184.215.14", False),
            ("8.8.8.8", False),
            ("2606:4700:4700::1111", False),
        ],
    )
    def test_which_addresses_are_refused(self, address: str, refused: bool) -> None:
        assert refused_address(ipaddress.ip_address(address)) is refused

    def test_production_refuses_to_allow_them(self, tmp_path: Path) -> None:
        key_file = tmp_path / "secrets" / "jwt.pem"
        key_file.parent.mkdir()
        key_file.write_text("not read by the check")
        production: dict[str, Any] = {
            "env": Environment.PRODUCTION,
            "var_dir": tmp_path / "var",
            "jwt_private_key_files": [key_file],
            "pii_keys": ["k1:" + generate_key()],
            "pii_blind_index_key": generate_key(),
        }
        assert Settings(**production).image_fetch_allow_private is False
        with pytest.raises(ValueError, match="SHOPDB_IMAGE_FETCH_ALLOW_PRIVATE"):
            Settings(**production, image_fetch_allow_private=True)
