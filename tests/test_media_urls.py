from __future__ import annotations

from collections.abc import Iterable

import anyio
import pytest

from omnichannel import InvalidEnvelope, InvalidMediaUrl
from omnichannel.media_urls import check_media_url, check_media_urls

pytestmark = pytest.mark.anyio

PRIVATE_HINT = "or set [routing] allow_private_media_hosts = true for a local sandbox"


class TableResolver:
    """Answers from a table; any other name fails the test (no test does real DNS)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str) -> Iterable[str]:
        self.asked.append(host)
        if host not in self.table:
            raise AssertionError(f"unexpected lookup of {host}")
        return self.table[host]


NO_LOOKUPS = TableResolver({})


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("javascript:alert(1)", "scheme 'javascript' is not allowed"),
        ("JavaScript:alert(1)", "scheme 'javascript' is not allowed"),
        ("data:image/png;base64,iVBORw0KGgo=", "scheme 'data' is not allowed"),
        ("ftp://files.example.com/a.png", "scheme 'ftp' is not allowed"),
        ("//cdn.example.com/a.png", "not an absolute URL (no scheme)"),
        ("https://user:hunter2@cdn.example.com/a.png", "credentials in the URL are not allowed"),
        ("https://token@cdn.example.com/a.png", "credentials in the URL are not allowed"),
        (" javascript:alert(1)", "a space or control character in the URL"),
        ("https://cdn.example.com/a\n.png", "a space or control character in the URL"),
        ("https://127.0.0.1\\@cdn.example.com/", "a backslash in the URL"),
        ("https:///a.png", "the URL has no host"),
        ("https://cdn.example.com:99999/a.png", "the port is not a number from 0 to 65535"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "host 169.254.169.254 is a cloud metadata address",
        ),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            "host metadata.google.internal is a cloud metadata service",
        ),
        ("http://[fd00:ec2::254]/", "host fd00:ec2::254 is a cloud metadata address"),
        ("http://127.0.0.1:8765/a.png", "host 127.0.0.1 is a loopback address"),
        ("http://127.1/a.png", "host 127.0.0.1 is a loopback address"),
        ("http://2130706433/a.png", "host 127.0.0.1 is a loopback address"),
        ("http://0x7f.0.0.1/a.png", "host 127.0.0.1 is a loopback address"),
        ("http://[::1]/a.png", "host ::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/a.png", "host ::ffff:7f00:1 is a loopback address"),
        ("http://[2002:a00:1::]/a.png", "host 2002:a00:1:: is a private address"),
        ("http://[64:ff9b::a9fe:a9fe]/", "host 64:ff9b::a9fe:a9fe is a cloud metadata address"),
        ("http://10.1.2.3/a.png", "host 10.1.2.3 is a private address"),
        ("http://172.16.0.9/a.png", "host 172.16.0.9 is a private address"),
        ("http://192.168.1.1/a.png", "host 192.168.1.1 is a private address"),
        ("http://100.64.0.1/a.png", "host 100.64.0.1 is a shared (CGNAT) address"),
        ("http://169.254.1.1/a.png", "host 169.254.1.1 is a link-local address"),
        ("http://[fe80::1]/a.png", "host fe80::1 is a link-local address"),
        ("http://[fc00::1]/a.png", "host fc00::1 is a private address"),
        ("http://0.0.0.0/a.png", "host 0.0.0.0 is an unspecified address"),
        ("http://[::]/a.png", "host :: is an unspecified address"),
        ("http://224.0.0.1/a.png", "host 224.0.0.1 is a multicast address"),
        (
            "http://1.2.3.4.5/a.png",
            "host 1.2.3.4.5 looks like an IP address but is not a valid one",
        ),
        ("http://localhost:8765/a.png", "host localhost is a loopback name"),
        ("http://LOCALHOST./a.png", "host localhost is a loopback name"),
        ("http://api.localhost/a.png", "host api.localhost is a loopback name"),
        (
            "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/",
            "host localhost is a loopback name",
        ),
        ("http://printer.local/a.png", "host printer.local is a link-local (mDNS) name"),
        ("http://files.corp.internal/a.png", "host files.corp.internal is a private-use name"),
        ("http://intranet/a.png", "host intranet is a single-label name, not a public one"),
        ("http://%6c%6fcalhost/a.png", "a percent sign in the host"),
        ("http://a_b!.example.com/a.png", "the host is not a valid host name"),
    ],
)
async def test_a_media_url_that_may_not_be_fetched_is_refused_naming_the_problem(
    url: str, problem: str
) -> None:
    with pytest.raises(InvalidMediaUrl) as caught:
        await check_media_urls([url], resolver=NO_LOOKUPS)
    assert caught.value.problem == problem
    assert str(caught.value).startswith(f"media URL refused: {problem}; ")
    assert isinstance(caught.value, InvalidEnvelope)
    with pytest.raises(InvalidMediaUrl):
        check_media_url(url)


async def test_credentials_in_a_refused_url_are_never_repeated() -> None:
    url = "https://admin:s3cr3t-pass@10.0.0.1/a.png?token=t0k3n"
    with pytest.raises(InvalidMediaUrl) as caught:
        await check_media_urls([url], resolver=NO_LOOKUPS)
    for leaked in ("admin", "s3cr3t-pass", "t0k3n", "/a.png"):
        assert leaked not in str(caught.value)


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    resolver = TableResolver({"files.acme-cdn.net": ["203.0.113.10", "10.0.0.1"]})
    with pytest.raises(InvalidMediaUrl) as caught:
        await check_media_urls(
            ["https://files.acme-cdn.net/a.png"],
            resolver=resolver,
            channel="sms",
            envelope_id="01ENV",
        )
    assert caught.value.problem == "host files.acme-cdn.net resolves to a private address 10.0.0.1"
    assert str(caught.value) == (
        "media URL refused: host files.acme-cdn.net resolves to a private address 10.0.0.1; "
        f"attach an http or https URL on a public host, {PRIVATE_HINT} "
        "(channel=sms, envelope=01ENV)"
    )


async def test_a_metadata_address_is_refused_even_when_private_hosts_are_allowed() -> None:
    resolver = TableResolver({"meta.acme-cdn.net": ["169.254.169.254"]})
    with pytest.raises(InvalidMediaUrl, match="resolves to a cloud metadata address"):
        await check_media_urls(["https://meta.acme-cdn.net/"], resolver=resolver)
    with pytest.raises(InvalidMediaUrl, match="is a cloud metadata address"):
        await check_media_urls(["http://169.254.169.254/"], allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.acme-cdn.net/images/a.png?sig=abc%2Fdef",
        "http://cdn.acme-cdn.net:8080/a.png",
        "HTTPS://CDN.ACME-CDN.NET/a.png",
        "https://93.184.215.14/a.png",
        "https://[2606:4700::6810:85e5]/a.png",
        "https://xn--bcher-kva.acme-cdn.net/a.png",
        "https://b\u00fccher.acme-cdn.net/a.png",
    ],
)
async def test_a_public_media_url_is_accepted(url: str) -> None:
    resolver = TableResolver(
        {"cdn.acme-cdn.net": ["93.184.215.14", "2606:4700::6810:85e5"]}
        | {"xn--bcher-kva.acme-cdn.net": ["93.184.215.14"]}
    )
    await check_media_urls([url], resolver=resolver)
    check_media_url(url)


async def test_reserved_test_names_are_accepted_without_being_resolved() -> None:
    urls = [
        "https://media.example.com/a.png",
        "https://example.org/a.png",
        "https://cdn.example/a.png",
        "https://files.test/a.png",
        "https://nowhere.invalid/a.png",
    ]
    resolver = TableResolver({})
    await check_media_urls(urls, resolver=resolver)
    assert resolver.asked == []


async def test_a_name_that_does_not_resolve_or_resolves_too_slowly_is_accepted() -> None:
    async def failing(host: str) -> Iterable[str]:
        raise OSError("no such host")

    async def never(host: str) -> Iterable[str]:
        await anyio.sleep_forever()
        return []

    await check_media_urls(["https://gone.acme-cdn.net/a.png"], resolver=failing)
    await check_media_urls(
        ["https://slow.acme-cdn.net/a.png"], resolver=never, resolve_timeout=0.01
    )


async def test_private_hosts_are_accepted_when_allowed_without_any_lookup() -> None:
    urls = [
        "http://127.0.0.1:8765/sandbox/a.png",
        "http://localhost:8765/a.png",
        "http://[::1]/a.png",
        "http://10.0.0.1/a.png",
        "http://files.corp.internal/a.png",
        "https://files.acme-cdn.net/a.png",
    ]
    await check_media_urls(urls, allow_private=True, resolver=NO_LOOKUPS)
    with pytest.raises(InvalidMediaUrl, match="scheme 'file'"):
        await check_media_urls(["file:///etc/passwd"], allow_private=True)


async def test_each_host_is_resolved_once() -> None:
    resolver = TableResolver({"cdn.acme-cdn.net": ["93.184.215.14"]})
    await check_media_urls(
        ["https://cdn.acme-cdn.net/a.png", "https://cdn.acme-cdn.net/b.png"], resolver=resolver
    )
    assert resolver.asked == ["cdn.acme-cdn.net"]


async def test_the_default_resolver_asks_getaddrinfo_and_treats_a_failure_as_no_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    from omnichannel import media_urls

    async def getaddrinfo(host: str, port: object, **kwargs: object) -> list[tuple[object, ...]]:
        if host == "gone.acme-cdn.net":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 0))]

    monkeypatch.setattr(media_urls.anyio, "getaddrinfo", getaddrinfo)
    assert await media_urls.resolve_host("files.acme-cdn.net") == ["10.0.0.1"]
    assert await media_urls.resolve_host("gone.acme-cdn.net") == []
    with pytest.raises(InvalidMediaUrl, match=r"resolves to a private address 10\.0\.0\.1"):
        await check_media_urls(["https://files.acme-cdn.net/a.png"])
