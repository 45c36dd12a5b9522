"""HTTP File Upload (XEP-0363) and the download of files shared by link, in
clear or sealed (XEP-0454, `aesgcm://`, at the end).

slixmpp's own XEP-0363 plugin needs aiohttp, which this project does not carry.
The slot is asked for by our `plugins/upload_slots.py` and read here
(`parse_slot`, which keeps only what is safe to use); the transfers are one HTTP
request each, done with the standard library, in a worker thread, over the same
verified TLS as the XMPP connection.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

NS_UPLOAD = "urn:xmpp:http:upload:0"
# Headers a slot may ask us to send; anything else is dropped, as the XEP says.
ALLOWED_SLOT_HEADERS = frozenset({"authorization", "cookie", "expires"})
DEFAULT_DOWNLOAD_LIMIT = 32 * 1024 * 1024
HTTP_TIMEOUT = 60.0


class TransferError(Exception):
    """An upload or download that did not complete; the message says why."""


@dataclass(frozen=True)
class Slot:
    put_url: str
    get_url: str
    headers: dict[str, str]


def parse_slot(iq_xml: Element) -> Slot:
    slot = iq_xml.find(f"{{{NS_UPLOAD}}}slot")
    if slot is None:
        raise TransferError("upload service answered without a slot")
    put = slot.find(f"{{{NS_UPLOAD}}}put")
    get = slot.find(f"{{{NS_UPLOAD}}}get")
    if put is None or get is None or not put.get("url") or not get.get("url"):
        raise TransferError("upload slot lacks its put or get URL")
    headers = {}
    for header in put.findall(f"{{{NS_UPLOAD}}}header"):
        name = (header.get("name") or "").strip()
        value = (header.text or "").replace("\r", "").replace("\n", "")
        if name.lower() in ALLOWED_SLOT_HEADERS:
            headers[name] = value
    put_url, get_url = put.get("url", ""), get.get("url", "")
    for url in (put_url, get_url):
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise TransferError(f"upload slot URL is not usable: {url[:200]!r}") from None
        if parts.scheme != "https" or not parts.hostname:
            raise TransferError(f"upload slot URL is not https: {url[:200]!r}")
    return Slot(put_url, get_url, headers)


def _connection(
    url: str, context: ssl.SSLContext
) -> tuple[http.client.HTTPSConnection, str, str]:
    """A connection for `url`, the request target, and "host:port" for messages."""
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise TransferError(f"not a usable link: {url[:200]!r}") from None
    if parts.scheme != "https" or not parts.hostname:
        raise TransferError(f"only https links are fetched, not {url[:200]!r}")
    conn = http.client.HTTPSConnection(parts.hostname, port, context=context,
                                       timeout=HTTP_TIMEOUT)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return conn, target, f"{parts.hostname}:{port}"


def _failure(what: str, where: str, exc: BaseException) -> TransferError:
    # A certificate problem is the one the user has to act on: say so plainly.
    reason = f"TLS failed: {exc}" if isinstance(exc, ssl.SSLError) else str(exc)
    return TransferError(f"{what} {where} failed: {reason}")


def _put(slot: Slot, data: bytes, content_type: str, context: ssl.SSLContext) -> None:
    conn, target, where = _connection(slot.put_url, context)
    try:
        headers = {"Content-Type": content_type, "Content-Length": str(len(data)),
                   **slot.headers}
        conn.request("PUT", target, body=data, headers=headers)
        response = conn.getresponse()
        response.read(64 * 1024)
        if response.status not in (200, 201):
            raise TransferError(
                f"upload to {where} refused: HTTP {response.status} {response.reason}")
    except (OSError, http.client.HTTPException) as exc:
        raise _failure("upload to", where, exc) from None
    finally:
        conn.close()


def _get(url: str, limit: int, context: ssl.SSLContext) -> tuple[bytes, str]:
    conn, target, where = _connection(url, context)
    try:
        conn.request("GET", target)
        response = conn.getresponse()
        if 300 <= response.status < 400:
            # Never followed: it could lead anywhere (a loopback service, another
            # scheme) that the link itself did not name.
            raise TransferError(f"download from {where} refused: it redirects elsewhere "
                                f"(HTTP {response.status}), which is not followed")
        if response.status != 200:
            raise TransferError(
                f"download from {where} refused: HTTP {response.status} {response.reason}")
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            raise TransferError(f"file of {int(length)} bytes is over the download limit "
                                f"of {limit} bytes")
        # Read one byte past the limit to tell "exactly the limit" from "more".
        data = response.read(limit + 1)
        if len(data) > limit:
            raise TransferError(f"file is over the download limit of {limit} bytes")
        content_type = (response.getheader("Content-Type") or "application/octet-stream")
        return data, content_type.split(";", 1)[0].strip()[:100] or "application/octet-stream"
    except (OSError, http.client.HTTPException) as exc:
        raise _failure("download from", where, exc) from None
    finally:
        conn.close()


async def put_file(slot: Slot, data: bytes, content_type: str, context: ssl.SSLContext) -> None:
    await asyncio.to_thread(_put, slot, data, content_type, context)


async def get_file(url: str, limit: int, context: ssl.SSLContext) -> tuple[bytes, str]:
    """The bytes behind an https link and their content type, at most `limit` bytes."""
    return await asyncio.to_thread(_get, url, limit, context)


# -- XEP-0454 (OMEMO media sharing): a file sealed with AES-GCM, its key and IV
# in the `aesgcm://` link's fragment, which travels only inside an OMEMO-sealed
# line. The cipher is slixmpp's own xep_0454 (its static encrypt/decrypt; its
# upload wrapper is not used: it goes through xep_0363, which needs aiohttp).

AESGCM = "aesgcm"


def is_aesgcm(url: str) -> bool:
    """An XEP-0454 link: aesgcm://host/path#<24 hex of IV><64 hex of key>."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    fragment = parts.fragment
    return parts.scheme == AESGCM and bool(parts.netloc) and len(fragment) == 88 and \
        all(c in "0123456789abcdefABCDEF" for c in fragment)


def seal_file(data: bytes) -> tuple[bytes, str]:
    """The bytes to upload (AES-256-GCM, the tag at the end) and the fragment
    (IV and key, hex) the link carries: see `aesgcm_link`."""
    from io import BytesIO

    from slixmpp.plugins.xep_0454 import XEP_0454

    return XEP_0454.encrypt(input_file=BytesIO(data))


def aesgcm_link(get_url: str, fragment: str) -> str:
    """The aesgcm:// link of sealed bytes uploaded to `get_url` (https)."""
    from slixmpp.plugins.xep_0454 import XEP_0454

    return XEP_0454.format_url(get_url, fragment)


async def get_sealed_file(url: str, limit: int, context: ssl.SSLContext) -> bytes:
    """The opened bytes behind an aesgcm:// link (fetched over https, then
    decrypted and checked: a wrong key or altered bytes fail the GCM tag)."""
    from io import BytesIO

    from slixmpp.plugins.xep_0454 import XEP_0454

    if not is_aesgcm(url):
        raise TransferError(f"not an aesgcm link: {url.partition('#')[0][:200]!r}")
    https, _, fragment = ("https" + url[len(AESGCM):]).partition("#")
    data, _type = await get_file(https, limit + 16, context)
    if len(data) < 16:
        raise TransferError("the encrypted file is cut short")
    try:
        return XEP_0454.decrypt(BytesIO(data), fragment)
    except Exception as exc:  # InvalidTag: the bytes or the key are not the sent ones
        raise TransferError(f"the encrypted file could not be opened: "
                            f"{type(exc).__name__}") from None
