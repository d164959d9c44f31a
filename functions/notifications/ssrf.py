"""Refuse webhook URLs that point inside the network (SSRF): loopback, private, link-local, metadata."""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse

from shared.timeutil import BadValue

METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


def check_url(url: object, allow_private: bool = False) -> str:
    """Return the URL if it is http(s) to a public address; raise BadValue otherwise.

    Checked at creation and again before every delivery (DNS answers can change).
    """
    if not isinstance(url, str) or len(url) > 2000:
        raise BadValue("must be an http(s) URL of at most 2000 characters")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadValue("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise BadValue("must not carry credentials")
    if allow_private:
        return url
    host = parts.hostname.rstrip(".").lower()
    if host in METADATA_HOSTS or host.endswith(".internal") or host == "localhost" or host.endswith(".localhost"):
        raise BadValue("points at an internal host")
    try:
        infos = socket.getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError, ValueError):
        raise BadValue("host does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
            or not address.is_global
        ):
            raise BadValue(f"resolves to a non-public address ({address})")
    return url
