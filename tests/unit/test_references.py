from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from io import BytesIO

import httpx
import numpy as np
import pytest
from PIL import Image

from frontend.generation.references import (
    Origin,
    ReferenceError,
    ReferenceLoader,
    ReferencePolicy,
    ReferenceTooLarge,
    is_public_address,
)

OWNER = "owner-a"
IMAGE_ID = "0123456789abcdef0123456789abcdef"
PUBLIC_IP = "93.184.216.34"


def png_bytes(color: tuple[int, ...], size: tuple[int, int] = (8, 6), mode: str = "RGB") -> bytes:
    buffer = BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def fake_resolver(answers: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError(f"unknown host {host}")
        return answers[host]

    return resolve


def serve(routes: dict[str, httpx.Response]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        # The loader connects to the checked address and names the host in Host: route by that name.
        addressed = request.url.copy_with(netloc=request.headers["host"].encode("ascii"))
        return routes.get(str(addressed), httpx.Response(404))

    return httpx.MockTransport(handler)


def make_loader(
    policy: ReferencePolicy | None = None,
    answers: dict[str, list[str]] | None = None,
    routes: dict[str, httpx.Response] | None = None,
    stored: dict[tuple[str, str], bytes] | None = None,
) -> ReferenceLoader:
    stored = stored or {}
    return ReferenceLoader(
        policy or ReferencePolicy(),
        lambda image_id, owner: stored.get((image_id, owner)),
        resolver=fake_resolver(answers or {}),
        transport=serve(routes or {}),
    )


def load(loader: ReferenceLoader, reference: str, index: int = 0) -> Image.Image:
    return asyncio.run(loader.load(reference, OWNER, Origin.reference(index)))


# data: URIs


def test_data_uri_png_round_trip() -> None:
    image = load(make_loader(), data_uri(png_bytes((10, 20, 30))))
    assert image.mode == "RGB" and image.size == (8, 6)
    assert image.getpixel((3, 3)) == (10, 20, 30)


def test_transparency_is_flattened_onto_white() -> None:
    image = load(make_loader(), data_uri(png_bytes((0, 0, 0, 0), mode="RGBA")))
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("media_type", ["image/svg+xml", "text/plain", "image/bmp"])
def test_data_uri_other_media_type_is_refused(media_type: str) -> None:
    with pytest.raises(ReferenceError) as caught:
        load(make_loader(), data_uri(png_bytes((1, 2, 3)), media_type), index=2)
    assert caught.value.index == 2 and not isinstance(caught.value, ReferenceTooLarge)


def test_data_uri_bad_base64_is_refused() -> None:
    with pytest.raises(ReferenceError, match="base64"):
        load(make_loader(), "data:image/png;base64,not*base64!")


def test_data_uri_over_max_bytes_is_too_large() -> None:
    policy = ReferencePolicy(max_bytes=64)
    with pytest.raises(ReferenceTooLarge):
        load(make_loader(policy), data_uri(b"\0" * 65))
    # Refused on length alone, before any decoding: this payload is not even valid base64.
    with pytest.raises(ReferenceTooLarge):
        load(make_loader(policy), "data:image/png;base64," + "*" * 10_000)


def test_non_image_bytes_are_refused() -> None:
    with pytest.raises(ReferenceError, match="not a PNG"):
        load(make_loader(), data_uri(b"definitely not an image"))


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(ReferenceTooLarge, match="pixels"):
        load(make_loader(ReferencePolicy(max_pixels=100)), data_uri(png_bytes((0, 0, 0), size=(20, 20))))


# stored image ids


def test_image_id_is_read_through_lookup() -> None:
    image = load(make_loader(stored={(IMAGE_ID, OWNER): png_bytes((0, 255, 0))}), IMAGE_ID)
    assert image.getpixel((0, 0)) == (0, 255, 0)


def test_image_id_absent_or_another_owners_reads_the_same() -> None:
    loader = make_loader(stored={(IMAGE_ID, "owner-b"): png_bytes((0, 255, 0))})
    with pytest.raises(ReferenceError) as theirs:
        load(loader, IMAGE_ID, index=1)
    with pytest.raises(ReferenceError) as absent:
        load(loader, "f" * 32, index=1)
    assert theirs.value.message == absent.value.message == "reference image 1 not found"


# URLs


def test_url_to_a_public_host_is_fetched() -> None:
    loader = make_loader(
        answers={"images.example.com": [PUBLIC_IP]},
        routes={"https://images.example.com/cat.png": httpx.Response(200, content=png_bytes((1, 2, 3)))},
    )
    assert load(loader, "https://images.example.com/cat.png").getpixel((0, 0)) == (1, 2, 3)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.5", "172.16.3.4", "192.168.1.1", "169.254.169.254", "::1", "::ffff:127.0.0.1",
     "fe80::1", "fd00::1", "100.64.0.1", "0.0.0.0", "224.0.0.1", "2002:7f00:1::1", "64:ff9b::a00:5"],
)  # fmt: skip
def test_url_resolving_to_a_non_public_address_is_refused(address: str) -> None:
    loader = make_loader(
        answers={"sneaky.example.com": [PUBLIC_IP, address]},
        routes={"http://sneaky.example.com/x.png": httpx.Response(200, content=png_bytes((1, 2, 3)))},
    )
    with pytest.raises(ReferenceError, match="not allowed"):
        load(loader, "http://sneaky.example.com/x.png")


@pytest.mark.parametrize("url", ["http://127.0.0.1/x.png", "http://[::1]/x.png", "http://169.254.169.254/"])
def test_literal_private_ip_url_is_refused(url: str) -> None:
    with pytest.raises(ReferenceError, match="not allowed"):
        load(make_loader(routes={url: httpx.Response(200, content=png_bytes((1, 2, 3)))}), url)


def test_allowed_hosts_let_a_loopback_host_through() -> None:
    loader = make_loader(
        ReferencePolicy(allowed_hosts=frozenset({"Assets.Internal"})),
        answers={"assets.internal": ["127.0.0.1"]},
        routes={"http://assets.internal/x.png": httpx.Response(200, content=png_bytes((4, 5, 6)))},
    )
    assert load(loader, "http://ASSETS.internal/x.png").getpixel((0, 0)) == (4, 5, 6)


def test_redirect_is_followed_to_a_public_host() -> None:
    loader = make_loader(
        answers={"a.example.com": [PUBLIC_IP], "b.example.com": [PUBLIC_IP]},
        routes={
            "http://a.example.com/x": httpx.Response(302, headers={"Location": "http://b.example.com/y.png"}),
            "http://b.example.com/y.png": httpx.Response(200, content=png_bytes((7, 8, 9))),
        },
    )
    assert load(loader, "http://a.example.com/x").getpixel((0, 0)) == (7, 8, 9)


def test_redirect_to_a_private_host_is_refused() -> None:
    loader = make_loader(
        answers={"a.example.com": [PUBLIC_IP], "internal.example.com": ["10.1.2.3"]},
        routes={
            "http://a.example.com/x": httpx.Response(
                301, headers={"Location": "http://internal.example.com/"}
            ),
            "http://internal.example.com/": httpx.Response(200, content=png_bytes((7, 8, 9))),
        },
    )
    with pytest.raises(ReferenceError, match="not allowed"):
        load(loader, "http://a.example.com/x")


def test_too_many_redirects_are_refused() -> None:
    loop = httpx.Response(302, headers={"Location": "/again"})
    loader = make_loader(
        ReferencePolicy(max_redirects=2),
        answers={"a.example.com": [PUBLIC_IP]},
        routes={"http://a.example.com/x": loop, "http://a.example.com/again": loop},
    )
    with pytest.raises(ReferenceError, match="redirected more than 2 times"):
        load(loader, "http://a.example.com/x")


def test_streamed_body_over_max_bytes_stops_early() -> None:
    chunks_sent = 0

    async def endless_body() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        while True:
            chunks_sent += 1
            yield b"\0" * 1024

    loader = make_loader(
        ReferencePolicy(max_bytes=10 * 1024),
        answers={"a.example.com": [PUBLIC_IP]},
        routes={"http://a.example.com/big": httpx.Response(200, content=endless_body())},
    )
    with pytest.raises(ReferenceTooLarge):
        load(loader, "http://a.example.com/big")
    assert chunks_sent <= 12


def test_declared_content_length_over_max_bytes_is_refused_up_front() -> None:
    async def small_body() -> AsyncIterator[bytes]:
        yield png_bytes((1, 2, 3))

    response = httpx.Response(200, headers={"Content-Length": str(10**9)}, content=small_body())
    loader = make_loader(answers={"a.example.com": [PUBLIC_IP]}, routes={"http://a.example.com/x": response})
    with pytest.raises(ReferenceTooLarge):
        load(loader, "http://a.example.com/x")


def test_non_image_body_is_refused() -> None:
    loader = make_loader(
        answers={"a.example.com": [PUBLIC_IP]},
        routes={"http://a.example.com/x": httpx.Response(200, text="<html>hello</html>")},
    )
    with pytest.raises(ReferenceError, match="not a PNG"):
        load(loader, "http://a.example.com/x")


def test_error_status_is_reported() -> None:
    loader = make_loader(answers={"a.example.com": [PUBLIC_IP]})
    with pytest.raises(ReferenceError, match="HTTP 404"):
        load(loader, "http://a.example.com/missing.png")


def test_timeout_is_a_reference_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    loader = ReferenceLoader(
        ReferencePolicy(),
        lambda image_id, owner: None,
        resolver=fake_resolver({"a.example.com": [PUBLIC_IP]}),
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(ReferenceError, match="timed out"):
        load(loader, "http://a.example.com/x")


@pytest.mark.parametrize(
    "url", ["ftp://a.example.com/x.png", "file:///etc/passwd", "gopher://a.example.com/", "not a url"]
)
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(ReferenceError, match="http\\(s\\) URL"):
        load(make_loader(answers={"a.example.com": [PUBLIC_IP]}), url)


def test_userinfo_is_refused() -> None:
    with pytest.raises(ReferenceError, match="credentials"):
        load(make_loader(answers={"a.example.com": [PUBLIC_IP]}), "http://user:pass@a.example.com/x.png")


def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(ReferenceError, match="does not resolve"):
        load(make_loader(), "http://nowhere.example.com/x.png")


def test_public_addresses_stay_public() -> None:
    assert is_public_address(PUBLIC_IP)
    assert is_public_address("2606:2800:220:1:248:1893:25c8:1946")
    assert not is_public_address("not-an-address")


# blend


def test_blend_of_red_and_blue_is_purple_at_the_requested_size() -> None:
    red, blue = data_uri(png_bytes((255, 0, 0))), data_uri(png_bytes((0, 0, 255), size=(5, 9)))
    blended = asyncio.run(make_loader().blend([red, blue], OWNER, width=24, height=16))
    assert blended.shape == (16, 24, 3) and blended.dtype == np.uint8
    assert np.abs(blended.astype(int) - [128, 0, 128]).max() <= 1


def test_blend_needs_a_reference() -> None:
    with pytest.raises(ValueError):
        asyncio.run(make_loader().blend([], OWNER, width=8, height=8))


def test_blend_reports_the_index_of_the_bad_reference() -> None:
    good = data_uri(png_bytes((1, 2, 3)))
    with pytest.raises(ReferenceError) as caught:
        asyncio.run(make_loader().blend([good, "data:text/plain;base64,AAAA"], OWNER, width=8, height=8))
    assert caught.value.index == 1


def test_the_connection_goes_to_the_checked_address_not_the_name() -> None:
    """DNS rebinding: the name is resolved once, checked, and the request connects to that address (a
    second, private answer can never be used); the name travels in Host and as the TLS server name."""
    seen: list[httpx.Request] = []
    answers = iter([[PUBLIC_IP], ["10.0.0.7"]])  # a rebinding resolver: public first, private after

    async def rebinding_resolver(host: str, port: int) -> list[str]:
        return next(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=png_bytes((255, 0, 0)))

    loader = ReferenceLoader(
        ReferencePolicy(),
        lambda image_id, owner: None,
        resolver=rebinding_resolver,
        transport=httpx.MockTransport(handler),
    )
    load(loader, "https://images.example.com:8443/cat.png")
    (request,) = seen
    assert request.url.host == PUBLIC_IP and request.url.port == 8443
    assert request.headers["host"] == "images.example.com:8443"
    assert request.extensions["sni_hostname"] == "images.example.com"
