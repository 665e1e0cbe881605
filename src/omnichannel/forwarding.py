"""Which URL a webhook request was addressed to, when no public URL is configured.

Providers sign the URL they called, so the webhook app must rebuild it to check a signature.
The configured public URL is the answer whenever there is one. Without it the URL comes from
the socket the request arrived on (``scope["server"]``), never from the ``Host`` header: a
client chooses its Host header, and a URL it chooses makes a forged request look signed for
us. Behind a reverse proxy, the proxy's ``Forwarded`` or ``X-Forwarded-Proto`` /
``X-Forwarded-Host`` headers (and the ``Host`` it passes on) are believed only when the
request comes from an address in the trusted-proxies list.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from omnichannel.errors import ConfigurationError

__all__ = ["IPNetwork", "is_trusted_proxy", "parse_networks", "request_base_url"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_SCHEMES: Final = frozenset(_DEFAULT_PORTS)
_HOST: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)


def parse_networks(
    values: Iterable[str], *, where: str = "trusted proxies"
) -> tuple[IPNetwork, ...]:
    """Addresses and networks (``10.0.0.5``, ``10.0.0.0/8``, ``fd00::/8``) as networks.

    An entry that is neither is a :class:`~omnichannel.ConfigurationError` naming it.
    """
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"{where}: {value!r} is not an IP address or network (such as 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def is_trusted_proxy(client: Sequence[Any] | None, networks: Sequence[IPNetwork]) -> bool:
    """Whether the peer ``client`` (an ASGI ``scope["client"]``) is in ``networks``."""
    if not networks or not client:
        return False
    try:
        address = ipaddress.ip_address(str(client[0]))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    # Repeated headers and comma-separated lists are the same list (RFC 9110, 5.3).
    items: list[str] = []
    for key, value in headers:
        if key.lower() == name:
            items.extend(item.strip() for item in value.decode("latin-1").split(","))
    return [item for item in items if item]


def _forwarded_pairs(element: str) -> dict[str, str]:
    pairs = {}
    for pair in element.split(";"):
        name, equals, value = pair.partition("=")
        if equals:
            pairs[name.strip().lower()] = value.strip().strip('"')
    return pairs


def _forwarded_origin(headers: Sequence[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    # The last element is the one our own (trusted) proxy wrote; anything before it came
    # from further out, where a client may have written it.
    forwarded = _header_values(headers, b"forwarded")
    if forwarded:
        nearest = _forwarded_pairs(forwarded[-1])
        return nearest.get("proto"), nearest.get("host")
    protos = _header_values(headers, b"x-forwarded-proto")
    hosts = _header_values(headers, b"x-forwarded-host")
    host_header = _header_values(headers, b"host")
    return (
        protos[-1] if protos else None,
        hosts[-1] if hosts else (host_header[0] if host_header else None),
    )


def _socket_authority(scope: Mapping[str, Any], scheme: str) -> str:
    server = scope.get("server")
    if not server:
        return "localhost"
    host, port = str(server[0]), server[1]
    if ":" in host:
        host = f"[{host}]"
    return host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"


def request_base_url(scope: Mapping[str, Any], trusted: Sequence[IPNetwork] = ()) -> str:
    """``scheme://host[:port]`` a request was addressed to, without a configured public URL.

    From the socket's own address; from the forwarded headers (or a passed-on Host header)
    only when ``scope["client"]`` is in ``trusted``. A forwarded value that is not a plain
    ``http``/``https`` scheme or host name is ignored.
    """
    scheme = str(scope.get("scheme") or "http")
    authority = None
    if is_trusted_proxy(scope.get("client"), trusted):
        proto, host = _forwarded_origin(scope["headers"])
        if proto is not None and proto.lower() in _SCHEMES:
            scheme = proto.lower()
        if host is not None and _HOST.fullmatch(host):
            authority = host
    return f"{scheme}://{authority or _socket_authority(scope, scheme)}"
