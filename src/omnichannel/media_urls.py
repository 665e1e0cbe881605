"""Outbound media URLs: which ones a message may ask a provider, or an adapter, to fetch.

Providers fetch attachments from the URL they are given, some adapters download media to
upload it, and a channel without attachments turns media into links in the text. An
envelope built from outside input must not make any of them fetch ``file:///etc/passwd``, a
cloud metadata service or a host on our own network, nor put ``javascript:`` in a
customer's message. The rules:

- only ``http`` and ``https``; no credentials (``user:pass@``); no spaces, control
  characters, backslashes or percent signs in the host (parsers disagree about those);
- no host that is, or resolves to, a loopback, private (RFC 1918, fc00::/7), link-local
  (169.254.0.0/16, fe80::/10), shared (CGNAT, 100.64.0.0/10), unspecified, multicast or
  reserved address, and no internal name (``localhost``, ``*.local``, ``*.internal``, a
  single-label name), unless ``allow_private`` (a sandbox on loopback needs it);
- never a cloud metadata service (``metadata.google.internal``, 169.254.169.254, ...), even
  with ``allow_private``.

:func:`check_media_url` is the syntactic check; :func:`check_media_urls` adds resolving host
names (through an injectable resolver, under a short timeout). Only what can be seen to be
internal is refused: a name that does not resolve is accepted (the provider will fail to
fetch it), and names reserved for tests and documentation (``*.test``, ``*.example``,
``*.invalid``, ``example.com``, ...) are not resolved at all. A name that resolves to a
public address now and a private one later (DNS rebinding) is beyond what a check before
sending can see.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Final
from urllib.parse import urlsplit

import anyio

from omnichannel.errors import InvalidMediaUrl

__all__ = [
    "DEFAULT_RESOLVE_TIMEOUT",
    "Resolver",
    "check_media_url",
    "check_media_urls",
    "resolve_host",
]

Resolver = Callable[[str], Awaitable[Iterable[str]]]
"""Resolves a host name to the IP addresses (as strings) it currently has."""

DEFAULT_RESOLVE_TIMEOUT: Final = 2.0
"""Seconds to wait for a host name to resolve before accepting it unresolved."""

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEMES: Final = frozenset({"http", "https"})
_METADATA: Final = "a cloud metadata"
_PRIVATE_HINT: Final = (
    "attach an http or https URL on a public host, or set [routing] "
    "allow_private_media_hosts = true for a local sandbox"
)

_INTERNAL_NETWORKS: Final = tuple(
    (ipaddress.ip_network(network), kind)
    for network, kind in (
        ("0.0.0.0/8", "an unspecified"),
        ("10.0.0.0/8", "a private"),
        ("100.64.0.0/10", "a shared (CGNAT)"),
        ("127.0.0.0/8", "a loopback"),
        ("169.254.0.0/16", "a link-local"),
        ("172.16.0.0/12", "a private"),
        ("192.168.0.0/16", "a private"),
        ("224.0.0.0/4", "a multicast"),
        ("240.0.0.0/4", "a reserved"),
        ("::/128", "an unspecified"),
        ("::1/128", "a loopback"),
        ("fc00::/7", "a private"),
        ("fe80::/10", "a link-local"),
        ("fec0::/10", "a site-local"),
        ("ff00::/8", "a multicast"),
    )
)
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_METADATA_NAMES: Final = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
# name suffix -> what kind of name it is (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal)
_INTERNAL_SUFFIXES: Final = (
    ("localhost", "a loopback"),
    ("local", "a link-local (mDNS)"),
    ("internal", "a private-use"),
    ("home.arpa", "a home-network"),
)
_UNRESOLVED_SUFFIXES: Final = (
    "test",
    "example",
    "invalid",
    "example.com",
    "example.net",
    "example.org",
)
_NAME: Final = re.compile(
    r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*"
)
# The WHATWG URL parser reads a host whose last label is a number as IPv4, legacy forms
# included ("127.1", "0x7f.1", "2130706433"), and so do inet_aton and many HTTP clients.
_NUMERIC_LABEL: Final = re.compile(r"0x[0-9a-f]*|[0-9]+")


def _under(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith("." + suffix)


def _internal_kind(address: _IPAddress, allow_private: bool) -> str | None:
    """What kind of internal address ``address`` is ("a loopback"), None for a public one."""
    if address in _METADATA_ADDRESSES:
        return _METADATA
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address inside an IPv6 one reaches the IPv4 host.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return _internal_kind(embedded, allow_private)
    if allow_private:
        return None
    return next((kind for network, kind in _INTERNAL_NETWORKS if address in network), None)


def _internal(problem: str, kind: str) -> InvalidMediaUrl:
    return InvalidMediaUrl(
        problem, hint="attach a public URL" if kind == _METADATA else _PRIVATE_HINT
    )


def _literal_address(host: str) -> _IPAddress | None:
    """The IP address ``host`` denotes, None for a name; InvalidMediaUrl for a broken one."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidMediaUrl(f"host {host} is not a valid IPv6 address") from None
    if not _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        raise InvalidMediaUrl(
            f"host {host} looks like an IP address but is not a valid one"
        ) from None


def _ascii_host(hostname: str) -> str:
    if hostname.isascii():
        return hostname
    try:
        # IDNA maps look-alikes first (fullwidth "localhost" becomes "localhost"), as clients do.
        return hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidMediaUrl("the host is not a valid internationalised name") from None


def _host_to_resolve(url: str, allow_private: bool) -> str | None:
    """Check ``url`` syntactically; return the host name still to resolve, if any."""
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise InvalidMediaUrl("a space or control character in the URL")
    if "\\" in url:
        raise InvalidMediaUrl("a backslash in the URL")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidMediaUrl("not a valid URL") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise InvalidMediaUrl("not an absolute URL (no scheme)")
    if scheme not in _SCHEMES:
        raise InvalidMediaUrl(f"scheme {scheme!r} is not allowed")
    if "@" in parts.netloc:
        raise InvalidMediaUrl("credentials in the URL are not allowed")
    if not parts.hostname:
        raise InvalidMediaUrl("the URL has no host")
    if "%" in parts.hostname:
        raise InvalidMediaUrl("a percent sign in the host")
    try:
        _ = parts.port  # urlsplit checks the port only when it is read
    except ValueError:
        raise InvalidMediaUrl("the port is not a number from 0 to 65535") from None
    host = _ascii_host(parts.hostname).rstrip(".")
    address = _literal_address(host)
    if address is not None:
        kind = _internal_kind(address, allow_private)
        if kind is not None:
            raise _internal(f"host {address} is {kind} address", kind)
        return None
    if not _NAME.fullmatch(host):
        raise InvalidMediaUrl("the host is not a valid host name")
    if host in _METADATA_NAMES:
        raise _internal(f"host {host} is {_METADATA} service", _METADATA)
    if allow_private or any(_under(host, suffix) for suffix in _UNRESOLVED_SUFFIXES):
        return None
    for suffix, kind in _INTERNAL_SUFFIXES:
        if _under(host, suffix):
            raise _internal(f"host {host} is {kind} name", kind)
    if "." not in host:
        raise _internal(f"host {host} is a single-label name, not a public one", "a private")
    return host


def check_media_url(url: str, *, allow_private: bool = False) -> None:
    """Raise :class:`~omnichannel.InvalidMediaUrl` unless ``url`` may be fetched, judging by
    the URL alone (no name is resolved)."""
    _host_to_resolve(url, allow_private)


async def resolve_host(host: str) -> list[str]:
    """The addresses ``host`` resolves to (the default resolver); empty when it does not."""
    try:
        infos = await anyio.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return [str(info[4][0]) for info in infos]


async def check_media_urls(
    urls: Iterable[str],
    *,
    allow_private: bool = False,
    resolver: Resolver = resolve_host,
    resolve_timeout: float = DEFAULT_RESOLVE_TIMEOUT,
    channel: str | None = None,
    envelope_id: str | None = None,
) -> None:
    """Raise :class:`~omnichannel.InvalidMediaUrl` for the first of ``urls`` that may not be
    fetched: :func:`check_media_url` on each, then each host name resolved with ``resolver``
    (concurrently, each under ``resolve_timeout`` seconds) and refused when an address it has is
    internal. Names are not resolved when ``allow_private`` is set."""
    hosts: dict[str, list[str]] = {}
    try:
        for url in urls:
            host = _host_to_resolve(url, allow_private)
            if host is not None:
                hosts[host] = []
        await _resolve_all(hosts, resolver, resolve_timeout)
        for host, addresses in hosts.items():
            _check_resolved(host, addresses, allow_private)
    except InvalidMediaUrl as error:
        raise InvalidMediaUrl(
            error.problem, hint=error.hint, channel=channel, envelope_id=envelope_id
        ) from None


async def _resolve_all(hosts: dict[str, list[str]], resolver: Resolver, seconds: float) -> None:
    async def resolve(host: str) -> None:
        with anyio.move_on_after(seconds), contextlib.suppress(OSError):
            hosts[host] = list(await resolver(host))

    async with anyio.create_task_group() as group:
        for host in hosts:
            group.start_soon(resolve, host)


def _check_resolved(host: str, addresses: Iterable[str], allow_private: bool) -> None:
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue
        kind = _internal_kind(address, allow_private)
        if kind is not None:
            raise _internal(f"host {host} resolves to {kind} address {address}", kind)
