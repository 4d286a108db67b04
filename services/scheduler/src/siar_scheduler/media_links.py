"""Media links tried when a post is written or submitted, so that a dead or wrong link is said
then — to the editor and the reviewer — and not first at the post's time, when the publisher
fetches the file and the post fails.

Each link is asked for its headers only (``HEAD``; where a server refuses that, as links signed
for GET do, a ``GET`` of its first byte), all at once and within one deadline, following
redirects. What comes back becomes a ``media_links`` finding of the content checks (warn by
default, ``SIAR_CHECK_MEDIA_LINKS``): a link that cannot be reached, one that answers an error,
a web page instead of the file (the share link of Google Drive, Dropbox or OneDrive), or a video
given as an image. The file's size, where the server says it, is checked against each platform's
limits with the post's other rules (a 2 GB video for X is refused at once). Nothing here changes
the post: the publisher downloads the file at its time as before.

A link must lead where the publisher will fetch from (siar_runtime.egress): to this machine, the
cloud's instance metadata or a private network only where the operator allows it. Every
connection, a redirect's included, resolves its host once through the guard and connects only to
an address it allows (TLS still checks the certificate against the name), as the publisher's
download does: a name that answers differently a moment later (DNS rebinding) gains nothing, and
a name with both a public and a private address is asked at the public one."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import httpcore
import httpx
from siar_runtime.egress import Egress, Refused

from .checks import Finding

CONCURRENCY = 8
_RANGE_TOTAL = re.compile(r"bytes \d+-\d+/(\d+)")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None = None
    content_type: str | None = None  # the media type, lower case, without parameters
    size: int | None = None  # bytes, where the server says
    error: str | None = None  # why there was no answer
    refused: str | None = None  # where it leads, that Siar does not fetch from (siar_runtime.egress)


async def look(urls: Iterable[str], *, timeout: float, egress: Egress | None = None,
               reuse: bool = False) -> dict[str, Answer]:
    """Each distinct URL's answer, all within ``timeout`` seconds in all (a URL not yet asked when
    the time is up has none); only the addresses ``egress`` allows are asked (default: public
    ones). ``reuse``: believe a recent answer (:data:`FRESH_SECONDS`)."""
    guard = egress or Egress()
    now = time.monotonic()
    known = {url: _RECENT[(url, guard.allowed)][1] for url in dict.fromkeys(urls)
             if reuse and (url, guard.allowed) in _RECENT and _RECENT[(url, guard.allowed)][0] > now}
    unique = [url for url in dict.fromkeys(urls) if url not in known]
    if not unique:
        return known
    limit = asyncio.Semaphore(CONCURRENCY)
    headers = {"User-Agent": "Siar (checking a post's media link)", "Accept-Encoding": "identity"}

    # trust_env off: through a proxy from the environment the guard's addresses would not be the ones asked
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True, headers=headers, trust_env=False,
                                 transport=_guarded_transport(guard)) as client:

        started: set[str] = set()

        async def one(url: str) -> Answer:
            async with limit:
                started.add(url)
                try:
                    return await _look(client, url)
                except Exception as exc:  # a link httpx cannot even form (http://xn--/a): said, never a 500
                    return Answer(error=f"is not a link that can be fetched ({_why(exc)})")

        tasks = {url: asyncio.create_task(one(url)) for url in unique}
        done, pending = await asyncio.wait(tasks.values(), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    late = Answer(error=f"did not answer within {timeout:g} s")
    # A link whose turn never came (many links, CONCURRENCY at a time) is not the link's fault:
    # it has no answer, and no finding.
    found = {url: task.result() if task in done else late for url, task in tasks.items()
             if task in done or url in started}
    for url, answer in found.items():
        if answer.status is not None and answer.status < 400 and not (answer.content_type or "").startswith("text/"):
            _RECENT[(url, guard.allowed)] = (now + FRESH_SECONDS, answer)  # a file's answer holds a while
            _RECENT.move_to_end((url, guard.allowed))
    while len(_RECENT) > 4096:
        _RECENT.popitem(last=False)
    return known | found


FRESH_SECONDS = 120
"""How long a CSV import (``reuse``) believes a link that answered with a file, without asking
again: ``siar import`` checks a plan in parts and then imports it, asking each link once. A post
written or submitted always asks afresh (an editor who just replaced the file behind a link must
not be told about the old one); an error or a web page is always asked again."""
_RECENT: OrderedDict[tuple[str, tuple], tuple[float, Answer]] = OrderedDict()


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network with the guard in front: the host's addresses resolved once, only
    those allowed connected to (the connection goes to the address; TLS, above it, still speaks
    and checks the name)."""

    def __init__(self, guard: Egress) -> None:
        self._guard = guard
        self._network = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable | None = None) -> httpcore.AsyncNetworkStream:
        addresses = [a for _, a in await self._guard.resolve(host, port)]  # Refused if none is allowed
        # The addresses in turn, as a client tries a name's; each gets its share of the time, so
        # that a first one that drops packets (a broken IPv6 route) leaves time for the next.
        share = timeout / len(addresses) if timeout else None
        failed: Exception | None = None
        for address in addresses:
            try:
                return await self._network.connect_tcp(address, port, share, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failed = exc
        assert failed is not None  # resolve gives at least one address or raises
        raise failed

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable | None = None) -> httpcore.AsyncNetworkStream:
        raise Refused("a media link cannot lead to a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


_TLS: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    """certifi's certificates, as httpx's own transport uses them (SSL_CERT_FILE is not read:
    trust_env off); loaded once (about 16 ms each time), not for every post written."""
    global _TLS
    if _TLS is None:
        _TLS = httpx.create_ssl_context(trust_env=False)
    return _TLS


def _guarded_transport(guard: Egress) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(verify=_tls(), trust_env=False)
    # httpx has no parameter for httpcore's network backend; its pool is rebuilt with one, and
    # test_media_links proves a connection goes through it (a name the guard refuses is never
    # connected to, even with nothing else checking).
    limits = httpx.Limits()  # httpx's own defaults
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=_tls(), max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
        network_backend=_GuardedBackend(guard))
    return transport


async def _look(client: httpx.AsyncClient, url: str) -> Answer:
    try:
        response = await client.head(url)
        if response.status_code in (403, 405, 501):
            # Some servers refuse HEAD (links signed for GET answer 403, others 405): the first byte.
            async with client.stream("GET", url, headers={"Range": "bytes=0-0"}) as response:
                pass  # the headers are what is wanted; leaving drops the body
    except Refused as exc:
        return Answer(refused=str(exc))
    except httpx.TimeoutException:
        return Answer(error="did not answer in time")
    except httpx.TooManyRedirects:
        return Answer(error="redirects too many times")
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:  # OSError: the guard's own look-up of the name
        return Answer(error=f"cannot be reached ({_why(exc)})")
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower() or None
    return Answer(status=response.status_code, content_type=media_type, size=_size(response))


def _why(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:  # the resolver's own error, whatever its wording on this system
        if isinstance(seen, socket.gaierror):
            return "no such host" if seen.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)) else (
                f"the host's name could not be looked up: {seen.strerror or seen}")
        seen = seen.__cause__ or seen.__context__
    return (str(exc) or type(exc).__name__)[:160]


def _size(response: httpx.Response) -> int | None:
    if response.status_code == 206:
        found = _RANGE_TOTAL.fullmatch(response.headers.get("content-range", "").strip())
        return int(found.group(1)) if found else None
    length = response.headers.get("content-length", "")
    return int(length) if response.status_code == 200 and length.isdigit() and int(length) > 0 else None


def shown(url: str) -> str:
    """A link as findings show it: host and path, never the query (signed links carry secrets)."""
    try:
        parts = urlsplit(url)
        host, path = parts.hostname or "", parts.path
    except ValueError:  # http://[::1/a: what comes before any query, cut short
        host, path = "", url.split("?", 1)[0].split("#", 1)[0][:60]
    path = path if len(path) <= 60 else path[:28] + "\u2026" + path[-28:]
    return f"{host}{path}"


def findings(severity: str, media: Sequence, answers: Mapping[str, Answer]) -> list[Finding]:
    found = []
    for i, m in enumerate(media):
        answer = answers.get(m.url)
        if answer is None:
            continue
        where = f"media {i + 1} ({shown(m.url)})"
        noun = {"image": "image", "gif": "GIF"}.get(m.kind, "video")
        if answer.refused:
            rule, message = "private_address", f"{where} {answer.refused}; the post would fail at its time"
        elif answer.error:
            rule, message = "unreachable", (f"{where} {answer.error}: the platforms are sent it at the post's time, "
                                            "and the post fails there unless it answers then")
        elif answer.status is not None and answer.status >= 400:
            try:
                phrase = HTTPStatus(answer.status).phrase
            except ValueError:  # a code of the server's own (499, 520)
                phrase = ""
            rule, message = "http_error", (f"{where} answers {answer.status} {phrase}".rstrip()
                                           + ": the post would fail at its time; check the link")
        elif answer.content_type and answer.content_type.startswith("text/"):
            rule, message = "not_media", (f"{where} is a web page ({answer.content_type}), not the {noun} itself: "
                                          "use the file's own link (a Google Drive, Dropbox or OneDrive share link "
                                          "opens a page; take its direct-download link)")
        elif _other_kind(m.kind, answer.content_type):
            rule, message = "kind_mismatch", (f"{where} is {answer.content_type}, but the post gives it as "
                                              f"{'an' if noun == 'image' else 'a'} {noun}: set its kind")
        else:
            continue
        found.append(Finding(check="media_links", severity=severity, field=f"media[{i}]",  # type: ignore[arg-type]
                             rule=rule, message=message))
    return found


def _other_kind(kind: str, content_type: str | None) -> bool:
    if not content_type:
        return False
    if kind == "video":
        return content_type.startswith("image/")
    return content_type.startswith("video/") and content_type != "video/gif"


def sized(media: Sequence, answers: Mapping[str, Answer]) -> list:
    """The media with the size each server said where the post gave none, for the platforms'
    size limits (copies: what is stored stays as written). Not where the server's type is not
    the kind the post gives (its kind_mismatch finding says more than a size limit would)."""
    out = []
    for m in media:
        answer = answers.get(m.url)
        if (m.size_bytes is None and answer is not None and answer.size is not None and not answer.error
                and (answer.status or 0) < 400 and not _other_kind(m.kind, answer.content_type)
                and not (answer.content_type or "").startswith("text/")):
            m = m.model_copy(update={"size_bytes": answer.size})
        out.append(m)
    return out
