from __future__ import annotations

from typing import Any

import pytest

from omnichannel import ConfigurationError
from omnichannel.forwarding import is_trusted_proxy, parse_networks, request_base_url

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8", "192.0.2.7"])


def _scope(
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    *,
    client: str = "10.1.2.3",
    server: tuple[str, int] | None = ("192.168.1.5", 8080),
    scheme: str = "http",
) -> dict[str, Any]:
    pairs = list(headers.items()) if isinstance(headers, dict) else headers or []
    return {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "client": (client, 50000),
        "headers": [(key.lower().encode(), value.encode()) for key, value in pairs],
    }


FORWARDED_FROM_PROXY = {
    "Host": "internal:8080",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "support.example.com",
}


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (_scope(FORWARDED_FROM_PROXY, client="203.0.113.9"), "http://192.168.1.5:8080"),
        (_scope({"Host": "forged.example.net"}, client="203.0.113.9"), "http://192.168.1.5:8080"),
        (_scope(FORWARDED_FROM_PROXY), "https://support.example.com"),
        (_scope(FORWARDED_FROM_PROXY, client="192.0.2.7"), "https://support.example.com"),
        (_scope(FORWARDED_FROM_PROXY, client="fd12::1"), "https://support.example.com"),
        (_scope(FORWARDED_FROM_PROXY, client="::ffff:10.9.9.9"), "https://support.example.com"),
        (
            _scope({"X-Forwarded-Proto": "https", "Host": "support.example.com"}),
            "https://support.example.com",
        ),
        (_scope({"X-Forwarded-Proto": "https"}), "https://192.168.1.5:8080"),
        (_scope({"X-Forwarded-Proto": "https, http"}), "http://192.168.1.5:8080"),
        (
            _scope([("X-Forwarded-Host", "forged.example.net"), ("X-Forwarded-Host", "a.example")]),
            "http://a.example",
        ),
        (
            _scope(
                {
                    "Forwarded": "for=1.2.3.4;proto=http;host=x.example, "
                    'proto=https;host="a.example:8443"'
                }
            ),
            "https://a.example:8443",
        ),
        (
            _scope({"Forwarded": "for=1.2.3.4", "X-Forwarded-Host": "a.example"}),
            "http://192.168.1.5:8080",
        ),
        (_scope({"X-Forwarded-Proto": "javascript"}), "http://192.168.1.5:8080"),
        (_scope({"X-Forwarded-Host": "a.example/evil?"}), "http://192.168.1.5:8080"),
        (_scope({"X-Forwarded-Host": "user@a.example"}), "http://192.168.1.5:8080"),
        (_scope({"X-Forwarded-Host": "[2001:db8::1]:8443"}), "http://[2001:db8::1]:8443"),
    ],
)
def test_forwarded_headers_count_only_from_a_trusted_proxy(
    scope: dict[str, Any], expected: str
) -> None:
    assert request_base_url(scope, PROXIES) == expected


@pytest.mark.parametrize(
    ("server", "scheme", "expected"),
    [
        (("127.0.0.1", 8080), "http", "http://127.0.0.1:8080"),
        (("127.0.0.1", 80), "http", "http://127.0.0.1"),
        (("127.0.0.1", 443), "https", "https://127.0.0.1"),
        (("127.0.0.1", 443), "http", "http://127.0.0.1:443"),
        (("::1", 8080), "http", "http://[::1]:8080"),
        (None, "http", "http://localhost"),
    ],
)
def test_without_trusted_headers_the_url_is_the_socket_address(
    server: tuple[str, int] | None, scheme: str, expected: str
) -> None:
    scope = _scope({"Host": "forged.example.net"}, server=server, scheme=scheme)
    assert request_base_url(scope) == expected


def test_nothing_is_trusted_without_a_list_or_a_client_address() -> None:
    assert not is_trusted_proxy(("10.0.0.1", 1), ())
    assert not is_trusted_proxy(None, PROXIES)
    assert not is_trusted_proxy(("not-an-address", 1), PROXIES)


def test_a_trusted_proxy_that_is_not_an_address_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_networks(["10.0.0.0/8", "proxy.internal"], where="--trust-proxy")
    assert str(caught.value) == (
        "--trust-proxy: 'proxy.internal' is not an IP address or network (such as 10.0.0.0/8)"
    )
