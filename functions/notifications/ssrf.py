"""Refuse webhook URLs that point inside the network (SSRF): loopback, private, link-local, metadata."""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from typing import cast

from shared.domain.times import BadValue

METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


def check_url(url: object, allow_private: bool = False) -> str:
    """Return the URL if it is http(s) to a public address; raise BadValue otherwise."""
    return resolve_public(url, allow_private)[0]


def resolve_public(url: object, allow_private: bool = False) -> tuple[str, list[str]]:
    """Check a webhook URL and return it with the public addresses its host resolves to now.

    Checked at creation and again before every delivery (DNS answers change); the delivery then
    connects to one of these addresses, so a second DNS answer (rebinding) cannot redirect it.
    With allow_private (tests, trusted networks) no address is pinned: the list is empty.
    """
    if not isinstance(url, str) or len(url) > 2000:
        raise BadValue("must be an http(s) URL of at most 2000 characters")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BadValue("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadValue("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise BadValue("must not carry credentials")
    if allow_private:
        return url, []
    host = parts.hostname.rstrip(".").lower()
    if host in METADATA_HOSTS or host.endswith(".internal") or host == "localhost" or host.endswith(".localhost"):
        raise BadValue("points at an internal host")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise BadValue("host does not resolve") from None
    addresses: list[str] = []
    for info in infos:
        # An IP socket address: its host is a str (typeshed also allows the int of other families).
        address = ipaddress.ip_address(cast(str, info[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not is_public(address):
            raise BadValue(f"resolves to a non-public address ({address})")
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise BadValue("host does not resolve")
    return url, addresses


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a webhook may be delivered to this address (not loopback, private, link-local, …)."""
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )
