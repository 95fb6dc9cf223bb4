"""Reference images for image-to-image: decode data URIs, stored image ids and fetched URLs, then blend.

A reference URL is fetched by the server on the client's behalf, so it is a server-side request forgery
surface: every hop's host must resolve only to globally routable addresses, redirects are followed by hand,
and the body is bounded while it streams. Every error message is safe to show the client; details that
would map the private network (what a host resolved to) only go to the log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from io import BytesIO

import httpx
import numpy as np
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

ImageLookup = Callable[[str, str], bytes | None]
HostResolver = Callable[[str, int], Awaitable[list[str]]]

DATA_URI_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
# Only the decoders the API documents: every other Pillow plugin is attack surface nobody asked for.
PILLOW_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
IMAGE_ID = re.compile(r"[0-9a-f]{32}")

# Ranges `is_global` already excludes on recent Pythons, named again so the policy does not hinge on the
# interpreter's table (3.11's misses some): CGNAT (RFC 6598) and NAT64 local-use (RFC 8215).
CARRIER_GRADE_NAT = ipaddress.IPv4Network("100.64.0.0/10")
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")


# Shadows the builtin ReferenceError (weakref) inside this module only; callers import it by this name.
@dataclass(frozen=True)
class Origin:
    """Which of a request's images a reference is: its position, and how messages name it."""

    index: int
    label: str

    @classmethod
    def reference(cls, index: int) -> Origin:
        return cls(index, f"reference image {index}")


class ReferenceError(Exception):
    """A reference cannot be used; message is safe to show the client."""

    def __init__(self, message: str, origin: Origin):
        super().__init__(message)
        self.message = message
        self.index = origin.index


class ReferenceTooLarge(ReferenceError):
    """Over the byte or pixel budget; the caller maps it to HTTP 413."""


@dataclass(frozen=True)
class ReferencePolicy:
    max_bytes: int = 10 * 1024 * 1024
    timeout_s: float = 10.0
    max_redirects: int = 3
    max_pixels: int = 40_000_000  # decompression-bomb guard, checked before any pixel is decoded
    # Hostnames or IP literals allowed even if private/loopback (exact, case-insensitive match of URL host).
    allowed_hosts: frozenset[str] = frozenset()


async def resolve_host(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public_address(text: str) -> bool:
    """True only for an address that is globally routable, after unwrapping IPv4 embedded in IPv6."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 reaches 127.0.0.1 on a dual-stack socket; judge the IPv4 inside.
        if address.ipv4_mapped is not None:
            return is_public_address(str(address.ipv4_mapped))
        if address.sixtofour is not None:
            return is_public_address(str(address.sixtofour))
        if address in NAT64_WELL_KNOWN:
            return is_public_address(str(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)))
        if address.teredo is not None or address in NAT64_LOCAL_USE:
            return False
    elif address in CARRIER_GRADE_NAT:
        return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


class ReferenceLoader:
    def __init__(
        self,
        policy: ReferencePolicy,
        lookup: ImageLookup,
        resolver: HostResolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.policy = policy
        self.lookup = lookup
        self.resolver = resolver or resolve_host
        self.transport = transport
        self._allowed_hosts = frozenset(host.lower() for host in policy.allowed_hosts)

    async def read(self, reference: str, owner: str, origin: Origin) -> bytes:
        """One reference's bytes, undecoded (a mask keeps its alpha): a data: URI, the id of one of the
        owner's stored images, or an http(s) URL fetched under the policy."""
        if reference[:5].lower() == "data:":
            return self._decode_data_uri(reference, origin)
        if IMAGE_ID.fullmatch(reference):
            return await self._read_stored(reference, owner, origin)
        return await self._fetch(reference, origin)

    async def load(self, reference: str, owner: str, origin: Origin) -> Image.Image:
        """One reference as an RGB image."""
        data = await self.read(reference, owner, origin)
        # Decoding is CPU-bound (up to max_pixels): keep it off the event loop.
        return await asyncio.to_thread(self._decode_image, data, origin)

    async def blend(self, references: list[str], owner: str, width: int, height: int) -> np.ndarray:
        """The pixel mean of every reference at (width, height), as uint8 [height, width, 3]."""
        if not references:
            raise ValueError("blend needs at least one reference image")
        if width <= 0 or height <= 0:
            raise ValueError(f"blend size must be positive, got {width}x{height}")
        total = np.zeros((height, width, 3), dtype=np.float64)
        for index, reference in enumerate(references):
            image = await self.load(reference, owner, Origin.reference(index))
            resized = await asyncio.to_thread(image.resize, (width, height), Image.Resampling.LANCZOS)
            total += np.asarray(resized, dtype=np.float64)
        mean = total / len(references)
        return np.clip(np.rint(mean), 0, 255).astype(np.uint8)

    # 1. data: URI

    def _decode_data_uri(self, reference: str, origin: Origin) -> bytes:
        header, comma, payload = reference[5:].partition(",")
        parameters = header.split(";")
        media_type = parameters[0].strip().lower()
        if not comma or media_type not in DATA_URI_MEDIA_TYPES or parameters[-1].strip().lower() != "base64":
            raise ReferenceError(
                f"{origin.label} must be data:image/<png|jpeg|webp|gif>;base64,<data>; "
                f"got data:{header[:40]}",
                origin,
            )
        # Refuse before decoding so an oversized payload never costs a second copy in memory.
        if len(payload) > 4 * -(-self.policy.max_bytes // 3):
            raise self._too_large(origin)
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ReferenceError(f"{origin.label} is not valid base64", origin) from None
        if len(data) > self.policy.max_bytes:
            raise self._too_large(origin)
        return data

    # 2. stored image id

    async def _read_stored(self, image_id: str, owner: str, origin: Origin) -> bytes:
        # One message for "absent" and "someone else's", so ids cannot be probed across owners.
        not_found = ReferenceError(f"{origin.label} not found", origin)
        data = await asyncio.to_thread(self.lookup, image_id, owner)
        if data is None:
            raise not_found
        if len(data) > self.policy.max_bytes:
            raise self._too_large(origin)
        return data

    # 3. http(s) URL

    async def _fetch(self, reference: str, origin: Origin) -> bytes:
        try:
            # One deadline for the whole fetch: httpx's timeout is per read, so a server dripping a byte
            # at a time would otherwise hold the request for as long as it likes.
            fetch = self._fetch_following_redirects(reference, origin)
            return await asyncio.wait_for(fetch, self.policy.timeout_s)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            raise ReferenceError(f"{origin.label} URL timed out", origin) from None
        except httpx.HTTPError as exc:
            logger.info("%s fetch failed: %r", origin.label, exc)
            raise ReferenceError(f"{origin.label} URL could not be fetched", origin) from None

    async def _fetch_following_redirects(self, reference: str, origin: Origin) -> bytes:
        url = self._parse_url(reference, origin)
        # trust_env=False: proxy variables and ~/.netrc on the server must never apply to client-chosen URLs.
        # Redirects are followed here, not by httpx, so that every hop's host passes the address check.
        async with httpx.AsyncClient(
            transport=self.transport,
            follow_redirects=False,
            trust_env=False,
            timeout=self.policy.timeout_s,
            headers={"Accept": "image/*", "Accept-Encoding": "identity"},
        ) as client:
            for _ in range(self.policy.max_redirects + 1):
                address = await self._check_host(url, origin)
                # Connect to the address just checked, not to the name (which a short-TTL DNS answer
                # could point elsewhere by now: DNS rebinding); the name still goes in Host and in TLS SNI,
                # so virtual hosts and certificate checks work as for the name.
                request_url, headers, extensions = url, {}, {}
                if address is not None and address != url.host:
                    request_url = url.copy_with(host=address)
                    headers["Host"] = url.netloc.decode("ascii")
                    extensions["sni_hostname"] = url.host
                async with client.stream(
                    "GET", request_url, headers=headers, extensions=extensions
                ) as response:
                    if response.has_redirect_location:
                        url = self._parse_redirect(url, response.headers["Location"], origin)
                        continue
                    if not response.is_success:
                        raise ReferenceError(
                            f"{origin.label} URL returned HTTP {response.status_code}", origin
                        )
                    return await self._read_bounded(response, origin)
        raise ReferenceError(
            f"{origin.label} URL redirected more than {self.policy.max_redirects} times", origin
        )

    def _parse_url(self, text: str, origin: Origin) -> httpx.URL:
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, ValueError, TypeError):
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise ReferenceError(f"{origin.label} must be a data: URI, an image id or an http(s) URL", origin)
        if url.userinfo:
            raise ReferenceError(f"{origin.label} URL must not contain credentials", origin)
        return url

    def _parse_redirect(self, current: httpx.URL, location: str, origin: Origin) -> httpx.URL:
        try:
            target = current.join(location)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise ReferenceError(f"{origin.label} URL redirected to an invalid URL", origin) from None
        return self._parse_url(str(target), origin)

    async def _check_host(self, url: httpx.URL, origin: Origin) -> str | None:
        """The address to connect to: the first the host resolved to, once every one of them is public;
        None for an allow-listed host (connected to by name)."""
        host = url.host.lower()
        if host in self._allowed_hosts:
            return None
        refused = ReferenceError(f"{origin.label} URL host {host} is not allowed", origin)
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            port = url.port or (443 if url.scheme == "https" else 80)
            try:
                addresses = await self.resolver(host, port)
            except OSError:
                message = f"{origin.label} URL host {host} does not resolve"
                raise ReferenceError(message, origin) from None
        # Any non-public answer refuses the host: the connection may pick any of them.
        private = [address for address in addresses if not is_public_address(address)]
        if not addresses or private:
            logger.warning("%s: host %s refused, non-public %s", origin.label, host, private)
            raise refused
        return addresses[0]

    async def _read_bounded(self, response: httpx.Response, origin: Origin) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.policy.max_bytes:
            raise self._too_large(origin)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.policy.max_bytes:
                raise self._too_large(origin)
        return bytes(body)

    # 4. decode

    def _decode_image(self, data: bytes, origin: Origin) -> Image.Image:
        try:
            image = Image.open(BytesIO(data), formats=PILLOW_FORMATS)
            # `size` comes from the header alone; refuse before `convert` decodes a single pixel.
            width, height = image.size
            if width * height > self.policy.max_pixels:
                raise ReferenceTooLarge(
                    f"{origin.label} is {width}x{height} pixels; "
                    f"at most {self.policy.max_pixels} pixels are accepted",
                    origin,
                )
            return flatten_to_rgb(image)
        except Image.DecompressionBombError:
            # Pillow's own process-wide guard, for a policy that allows more than it does.
            raise ReferenceTooLarge(f"{origin.label} has too many pixels", origin) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            message = f"{origin.label} is not a PNG, JPEG, WebP or GIF image"
            raise ReferenceError(message, origin) from None

    def _too_large(self, origin: Origin) -> ReferenceTooLarge:
        return ReferenceTooLarge(f"{origin.label} is larger than {self.policy.max_bytes} bytes", origin)


def has_alpha(image: Image.Image) -> bool:
    """An alpha channel, or a palette or colour key marked transparent."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def flatten_to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited onto white (what a viewer shows for a transparent PNG)."""
    if has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
