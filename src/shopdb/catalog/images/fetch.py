"""`images/fetch`: download an image created from a `src` URL, safely, on the worker.

POST /api/v1/products/{id}/images with `{"src": "https://..."}` writes the image row
(`status: processing`) and enqueues this job in the same transaction (shopdb.jobs). The worker
downloads the bytes outside any transaction, checks them as uploads are checked (type by magic
bytes, width and height), stores them, then marks the row `ready` and completes the job in one
transaction (fenced on the job's lease).

The download is bounded: http and https only; at most `image_max_bytes` (the Content-Length is
checked first, then the stream is stopped as soon as it passes the cap); one overall deadline
(`image_fetch_timeout_seconds`); at most MAX_REDIRECTS redirects, each one checked again.

Server-side request forgery: unless `image_fetch_allow_private` (refused in production), the
host is resolved here and every address it resolves to must be global: private, loopback,
link-local (169.254.169.254, the cloud metadata service), multicast, reserved and unspecified
addresses are refused. The connection then goes to the checked address itself (the URL's host
is replaced by it; the Host header and TLS's SNI and certificate check keep the name), so a
second DNS answer cannot send it elsewhere (DNS rebinding). Proxies from the environment are
ignored for the same reason.

Failures no retry can change (a refused address, a 404, too large, not an image) fail the job
at once (PermanentJobError) and mark the image `failed` with Shopify's media error code and a
message, in the transaction that fails the job. Network errors, timeouts and 5xx/408/429
answers are retried with the queue's backoff; the last attempt's failure is recorded the same
way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.images.service import EXTENSIONS, dimensions, served_path, sniff
from shopdb.catalog.products.repository import ProductRepository
from shopdb.events.service import record_event
from shopdb.jobs import PermanentJobError, RunningJob, enqueue
from shopdb.jobs.kinds import FILES_DELETE, IMAGES_FETCH
from shopdb.jobs.runner import JobContext, Registration
from shopdb.kit.types import utcnow
from shopdb.models import Product, ProductImage

MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
RETRIED_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "shopdb-image-fetcher/1"

# Shopify's MediaErrorCode values where one fits; IMAGE_SOURCE_REFUSED is shopdb's own.
DOWNLOAD_FAILURE = "IMAGE_DOWNLOAD_FAILURE"
TOO_LARGE = "INVALID_IMAGE_FILE_SIZE"
NOT_AN_IMAGE = "UNSUPPORTED_IMAGE_FILE_TYPE"
REFUSED = "IMAGE_SOURCE_REFUSED"
LOST = "The download was interrupted too many times; create the image again"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchFailed(Exception):
    """Why a download failed: a media error code, a message for clients, and whether a
    retry could change the outcome."""

    def __init__(self, code: str, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry = retry


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    width: int | None
    height: int | None


def refused_address(address: IpAddress) -> bool:
    """Whether a download may not connect to `address`: anything but a global unicast one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _source(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchFailed(REFUSED, "The URL cannot be parsed") from exc
    if parsed.scheme not in ("http", "https"):
        raise FetchFailed(REFUSED, "Only http and https URLs are downloaded")
    if not parsed.host:
        raise FetchFailed(REFUSED, "The URL has no host")
    if parsed.userinfo:
        raise FetchFailed(REFUSED, "URLs with credentials are not downloaded")
    return parsed


async def resolve(host: str, port: int) -> list[IpAddress]:
    """Every address `host` resolves to (an IP literal is itself, without any lookup)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchFailed(
            DOWNLOAD_FAILURE, f"The host {host} cannot be resolved", retry=True
        ) from exc
    addresses: list[IpAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchFailed(DOWNLOAD_FAILURE, f"The host {host} has no address", retry=True)
    return addresses


async def checked_addresses(url: httpx.URL, *, allow_private: bool) -> list[IpAddress]:
    """The addresses to connect to for `url`; every address of its host must be allowed."""
    port = url.port or (443 if url.scheme == "https" else 80)
    return await checked_host_addresses(url.host, port, allow_private=allow_private)


async def checked_host_addresses(host: str, port: int, *, allow_private: bool) -> list[IpAddress]:
    """The addresses to connect to for `host`; every one of them must be allowed."""
    addresses = await resolve(host, port)
    if not allow_private:
        for address in addresses:
            if refused_address(address):
                raise FetchFailed(
                    REFUSED,
                    f"{host} is a private, loopback, link-local, multicast or reserved "
                    "address; images are downloaded from public addresses only",
                )
    return addresses


def _pinned(url: httpx.URL, address: IpAddress) -> httpx.Request:
    """A GET of `url` sent to `address`: the Host header and TLS keep the URL's name."""
    host_header = url.netloc.decode("ascii")
    target = url.copy_with(host=str(address))
    extensions: dict[str, Any] = {}
    if url.scheme == "https":
        extensions["sni_hostname"] = url.host
    return httpx.Request(
        "GET",
        target,
        headers={
            "Host": host_header,
            "User-Agent": USER_AGENT,
            "Accept": "image/*",
            # Counted as sent: a compressed answer would be capped after decompression only.
            "Accept-Encoding": "identity",
        },
        extensions=extensions,
    )


async def _body(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed(TOO_LARGE, f"The image is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchFailed(TOO_LARGE, f"The image is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _connect(
    client: httpx.AsyncClient, url: httpx.URL, *, allow_private: bool
) -> httpx.Response:
    """The answer from the first of the host's checked addresses that accepts a connection."""
    addresses = await checked_addresses(url, allow_private=allow_private)
    for address in addresses[:-1]:
        try:
            return await client.send(_pinned(url, address), stream=True)
        except httpx.ConnectError:
            continue  # localhost is ::1 and 127.0.0.1; a server may listen on one only
    return await client.send(_pinned(url, addresses[-1]), stream=True)


async def _get(
    client: httpx.AsyncClient, source: str, *, max_bytes: int, allow_private: bool
) -> bytes:
    url = _source(source)
    for _ in range(MAX_REDIRECTS + 1):
        response = await _connect(client, url, allow_private=allow_private)
        try:
            if response.status_code in REDIRECTS and "location" in response.headers:
                url = _source(str(url.join(response.headers["location"])))
                continue
            status = response.status_code
            if status >= 500 or status in RETRIED_STATUSES:
                raise FetchFailed(DOWNLOAD_FAILURE, f"The server answered {status}", retry=True)
            if status != 200:
                raise FetchFailed(DOWNLOAD_FAILURE, f"The server answered {status}")
            return await _body(response, max_bytes)
        finally:
            await response.aclose()
    raise FetchFailed(DOWNLOAD_FAILURE, f"More than {MAX_REDIRECTS} redirects")


async def download(
    source: str,
    *,
    max_bytes: int,
    seconds: float,
    allow_private: bool,
) -> Fetched:
    """The image at `source`, checked as an upload is; FetchFailed says why not."""
    try:
        async with (
            asyncio.timeout(seconds),
            # trust_env=False: a proxy from the environment would connect on our behalf,
            # to whatever address it resolves.
            httpx.AsyncClient(timeout=seconds, trust_env=False, follow_redirects=False) as client,
        ):
            data = await _get(client, source, max_bytes=max_bytes, allow_private=allow_private)
    except TimeoutError as exc:
        raise FetchFailed(
            DOWNLOAD_FAILURE, f"The download took more than {seconds:g} s", retry=True
        ) from exc
    except httpx.TimeoutException as exc:
        raise FetchFailed(
            DOWNLOAD_FAILURE, f"The download took more than {seconds:g} s", retry=True
        ) from exc
    except httpx.InvalidURL as exc:  # a redirect's Location httpx cannot parse
        raise FetchFailed(REFUSED, "A redirect leads to a URL that cannot be parsed") from exc
    except httpx.HTTPError as exc:
        raise FetchFailed(DOWNLOAD_FAILURE, "The server could not be reached", retry=True) from exc
    content_type = sniff(data)
    if content_type is None:
        raise FetchFailed(NOT_AN_IMAGE, "The file is not a PNG, JPEG, GIF or WebP image")
    width, height = dimensions(data, content_type)
    return Fetched(data, content_type, width, height)


# --- the job --------------------------------------------------------------------------------


async def _image(session: AsyncSession, job: RunningJob) -> ProductImage | None:
    image = await session.get(ProductImage, int(job.payload["imageId"]), populate_existing=True)
    if image is None or image.product_id != int(job.payload["productId"]):
        return None
    return image


def _event(session: AsyncSession, image: ProductImage, actor: str | None) -> None:
    record_event(
        session,
        topic="product_images/update",
        subject_type="ProductImage",
        subject_id=image.id,
        body={"id": image.id, "productId": image.product_id, "status": image.status},
        actor=actor,
    )


async def _touch_product(session: AsyncSession, product_id: int) -> None:
    """The product's version (its ETag, its cached documents) moves with its images."""
    await ProductRepository(session).lock(product_id)
    product = await session.get(Product, product_id)
    if product is not None:
        product.updated_at = utcnow()


async def fetch_image(context: JobContext, job: RunningJob) -> dict[str, Any]:
    async with context.database.session() as session:
        image = await _image(session, job)
        source = image.src if image is not None and image.status == "processing" else None
    if source is None:
        # Deleted meanwhile, or already done by an earlier attempt.
        return {"skipped": True}
    settings = context.settings
    try:
        fetched = await download(
            source,
            max_bytes=settings.image_max_bytes,
            seconds=settings.image_fetch_timeout_seconds,
            allow_private=settings.image_fetch_allow_private,
        )
    except FetchFailed as exc:
        if exc.retry and job.attempt < job.max_attempts:
            raise
        # Read by mark_failed, in the transaction that fails the job.
        job.result = {"errorCode": exc.code, "errorMessage": exc.message}
        raise PermanentJobError(exc.message) from exc
    product_id = int(job.payload["productId"])
    key = f"products/{product_id}/{uuid.uuid4().hex}{EXTENSIONS[fetched.content_type]}"
    await context.storage.put(key, fetched.data, fetched.content_type)
    async with context.database.session() as session:
        await _touch_product(session, product_id)
        image = await _image(session, job)
        if image is None or image.status != "processing":
            # Deleted while downloading: the file goes too, once this commits.
            await enqueue(session, FILES_DELETE, {"key": key}, actor=job.actor)
            await job.complete(session, {"skipped": True})
            return {"skipped": True}
        image.storage_key = key
        image.src = served_path(product_id, image.id)
        image.content_type = fetched.content_type
        image.size_bytes = len(fetched.data)
        image.width, image.height = fetched.width, fetched.height
        image.status = "ready"
        image.error_code = image.error_message = None
        image.updated_at = utcnow()
        await session.flush()
        _event(session, image, job.actor)
        result = {"imageId": image.id, "sizeBytes": len(fetched.data)}
        await job.complete(session, result)
    return result


async def mark_failed(session: AsyncSession, job: RunningJob) -> None:
    """The image shows why it failed, committed with the job's failure."""
    image = await _image(session, job)
    if image is None or image.status != "processing":
        return
    await _touch_product(session, image.product_id)
    image.status = "failed"
    image.error_code = str(job.result.get("errorCode") or DOWNLOAD_FAILURE)
    image.error_message = str(job.result.get("errorMessage") or LOST)[:512]
    image.updated_at = utcnow()
    await session.flush()
    _event(session, image, job.actor)


FETCH_IMAGE = Registration(IMAGES_FETCH, fetch_image, on_failure=mark_failed)
