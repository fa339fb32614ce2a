"""Where deliveries may go: the image downloader's server-side request forgery guard, reused.

An address is https or http, without credentials. Unless private addresses are allowed (the
default in development; production refuses it, see Settings.webhooks_allow_private), its host
must resolve to global addresses only: loopback, private, link-local (the cloud metadata
service), multicast, reserved and unspecified ones are refused, at creation and again at each
send, which connects to the checked address itself so that a second DNS answer cannot send the
request elsewhere (shopdb.catalog.images.fetch).
"""

from __future__ import annotations

import ipaddress

import httpx

from shopdb.catalog.images.fetch import (
    REFUSED,
    FetchFailed,
    IpAddress,
    checked_addresses,
    checked_host_addresses,
    refused_address,
)
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
        raise _refusal(url.host, exc) from exc


def _refusal(host: str, exc: FetchFailed) -> AddressRefused:
    if exc.code == REFUSED:
        return AddressRefused(
            f"{host} resolves to a private, loopback, link-local, multicast or "
            "reserved address; webhooks are delivered to public addresses only"
        )
    return AddressRefused(f"The host {host} cannot be resolved")


def check_literal(url: httpx.URL, *, allow_private: bool) -> None:
    """Refuse `url` if its host is an IP address that is not allowed. A connection to an IP
    literal resolves nothing, so the sender's resolver never sees it: this is its check."""
    if allow_private:
        return
    try:
        address = ipaddress.ip_address(url.host)
    except ValueError:
        return  # a name: the resolver checks each address it resolves to
    if refused_address(address):
        raise _refusal(url.host, FetchFailed(REFUSED, "refused"))


async def allowed_host_addresses(host: str, port: int, *, allow_private: bool) -> list[IpAddress]:
    """The addresses `host` resolves to, each allowed (the sender's resolver); AddressRefused
    says why not."""
    try:
        return await checked_host_addresses(host, port, allow_private=allow_private)
    except FetchFailed as exc:
        raise _refusal(host, exc) from exc


async def check_address(address: str, *, allow_private: bool) -> str:
    """`address` as given, once it is a URL deliveries may go to."""
    url = parse(address)
    if not allow_private:
        await allowed_addresses(url, allow_private=False)
    return address
