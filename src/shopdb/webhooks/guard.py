"""Where deliveries may go: the image downloader's server-side request forgery guard, reused.

An address is https or http, without credentials. Unless private addresses are allowed (the
default in development; production refuses it, see Settings.webhooks_allow_private), its host
must resolve to global addresses only: loopback, private, link-local (the cloud metadata
service), multicast, reserved and unspecified ones are refused, at creation and again at each
send, which connects to the checked address itself so that a second DNS answer cannot send the
request elsewhere (shopdb.catalog.images.fetch).
"""

from __future__ import annotations

import httpx

from shopdb.catalog.images.fetch import REFUSED, FetchFailed, IpAddress, checked_addresses
from shopdb.webhooks.errors import AddressRefused


def parse(address: str) -> httpx.URL:
    try:
        url = httpx.URL(address)
    except httpx.InvalidURL as exc:
        raise AddressRefused("The address cannot be parsed") from exc
    if url.scheme not in ("http", "https"):
        raise AddressRefused("The address must be an http or https URL")
    if not url.host:
        raise AddressRefused("The address has no host")
    if url.userinfo:
        raise AddressRefused("The address must not carry credentials")
    return url


async def allowed_addresses(url: httpx.URL, *, allow_private: bool) -> list[IpAddress]:
    """The addresses `url`'s host resolves to, each allowed; AddressRefused says why not."""
    try:
        return await checked_addresses(url, allow_private=allow_private)
    except FetchFailed as exc:
        if exc.code == REFUSED:
            raise AddressRefused(
                f"{url.host} resolves to a private, loopback, link-local, multicast or "
                "reserved address; webhooks are delivered to public addresses only"
            ) from exc
        raise AddressRefused(f"The host {url.host} cannot be resolved") from exc


async def check_address(address: str, *, allow_private: bool) -> str:
    """`address` as given, once it is a URL deliveries may go to."""
    url = parse(address)
    if not allow_private:
        await allowed_addresses(url, allow_private=False)
    return address
