"""Where a webhook may point: public http(s) addresses only, checked when set and again when sent.

A webhook URL is typed by a user of the review app and then fetched by the notification sender,
inside the network callqc runs in. Unchecked, that lets a user make callqc send requests to
addresses only it can reach (server-side request forgery): the database, the object store, a cloud
metadata service at 169.254.169.254, an admin port on localhost. So a target must be ``http`` or
``https`` with a host name or address, no user name or password in it, and every address the host
resolves to must be a public one: not private, loopback, link-local, multicast, reserved or
unspecified (IPv4 and IPv6, IPv4-mapped IPv6 included). ``notify_webhook_allow`` lists networks
(CIDR) that may be reached anyway, for a receiver inside the company network.

The check runs when the address is saved and again on every send: a name that resolved to a public
address yesterday may resolve to 127.0.0.1 today (DNS rebinding). The sender then connects to the
very address it checked (:func:`resolve_target`), so no second lookup can slip another one in.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from storage.errors import InvalidInput
from storage.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ForbiddenTarget(InvalidInput):
    """webhook target not allowed"""


@dataclass(frozen=True)
class Target:
    url: str  # as the user gave it
    host: str  # the host name (for the Host header and TLS)
    address: str  # the checked address to connect to
    pinned_url: str  # ``url`` with the host replaced by ``address``
    host_header: str  # the URL's host[:port], sent as ``Host`` to the pinned address


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for raw in get_settings().notify_webhook_allow:
        try:
            nets.append(ipaddress.ip_network(raw, strict=False))
        except ValueError:
            raise ForbiddenTarget(f"CALLQC_NOTIFY_WEBHOOK_ALLOW: {raw!r} is not a network (e.g. 10.0.0.0/8)") from None
    return nets


def _public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or not ip.is_global)


def check_address(ip: IPAddress, host: str) -> None:
    """ForbiddenTarget unless ``ip`` is public or inside ``notify_webhook_allow``."""
    if _public(ip) or any(ip in net for net in _allowed_networks() if net.version == ip.version):
        return
    raise ForbiddenTarget(f"{host} is {ip}, a private, loopback or link-local address "
                          "(allow its network with CALLQC_NOTIFY_WEBHOOK_ALLOW)")


def _parts(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ForbiddenTarget(f"{url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ForbiddenTarget(f"{url!r}: give an http or https URL")
    if not parts.hostname:
        raise ForbiddenTarget(f"{url!r}: no host")
    if parts.username is not None or parts.password is not None:
        raise ForbiddenTarget(f"{url!r}: no user name or password in the URL")
    return parts.scheme, parts.hostname, port


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ForbiddenTarget(f"{host}: cannot be resolved ({exc})") from None
    # "%scope" of a link-local IPv6 answer is not part of the address
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def resolve_target(url: str) -> Target:
    """Check ``url`` and every address its host resolves to now; the first one is where to connect."""
    scheme, host, port = _parts(url)
    addresses = _addresses(host, port or (443 if scheme == "https" else 80))
    if not addresses:
        raise ForbiddenTarget(f"{host}: no address")
    for ip in addresses:
        check_address(ip, host)
    chosen = addresses[0]
    netloc = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    parts = urlsplit(url)
    pinned = parts._replace(netloc=netloc + (f":{port}" if port else "")).geturl()
    return Target(url=url, host=host, address=str(chosen), pinned_url=pinned, host_header=parts.netloc)
