"""What the Facebook, Instagram and Threads adapters share: Meta's Graph API.

Facts from shared/platforms.md (Facebook Page, Instagram, Threads, and the error taxonomy):
errors are ``{"error":{message,type,code,error_subcode,error_user_title,error_user_msg,
fbtrace_id}}``; 1/2 are transient; 4/17/32/341/613 and the 80000s (Business Use Case) are rate
limits, whose end is ``estimated_time_to_regain_access`` (minutes) in X-Business-Use-Case-Usage;
9 / 2207042 is Instagram's daily publishing maximum; 190 is an access token that no longer
works (subcode 463: expired, which a refresh may cure; 458/459/460/464/467/492: revoked);
10 and 200-299 are missing permissions; 100 with subcode 33 is an object that does not exist;
506 is a duplicate; 368 (subcode 1390008) is a temporary block, retried after an hour;
Instagram's 2207051 (suspected spam, with code 4) is a policy block; ``(#10) Not enough viewers``
on insights is no data yet, not a missing permission;
Instagram's 2207001 (server error) and 2207003/2207052 (media download) are worth retrying
(developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/error-codes). Containers (Instagram, Threads) go IN_PROGRESS -> FINISHED |
ERROR | EXPIRED (unpublished for 24 h) | PUBLISHED."""

from __future__ import annotations

import asyncio
import json
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from siar_contracts import ErrorClass

from .base import Account, Outgoing, PlatformError, transport_error

RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613}) | frozenset(range(80_000, 80_015))
AUTH_REVOKED_SUBCODES = frozenset({458, 459, 460, 464, 467, 490, 492})
PERMISSION_CODES = frozenset({10}) | frozenset(range(200, 300))
# Instagram subcodes: the media could not be downloaded now (retry), the container is not
# ready or failed in a way a new container may not (retry), or the content itself is refused.
# 2207001 is "Instagram server error. Try again." in Meta's error-code table (postiz reads it as
# spam); spam is 2207051, which comes with code 4 and so must be told from a rate limit first.
RETRY_SUBCODES = frozenset({2207001, 2207003, 2207008, 2207020, 2207027, 2207032, 2207052, 2207053})
POLICY_SUBCODES = frozenset({2207051, 1346003, 1404102})
TEMPORARY_BLOCK_CODE, TEMPORARY_BLOCK_SUBCODE = 368, 1390008  # "temporarily blocked" (platforms.md)
RESTRICTED_SUBCODES = frozenset({2207050})  # the account is inactive, checkpointed or restricted
DEFAULT_RATE_WAIT = timedelta(seconds=60)
EXHAUSTED_APP_WAIT = timedelta(minutes=10)  # X-App-Usage at 100 % and no time given
QUOTA_WAIT = timedelta(hours=1)  # a rolling 24-hour quota frees a slot as old posts age out
BLOCK_WAIT = timedelta(hours=1)  # Graph gives no end to a temporary block (368)
NOT_ENOUGH_VIEWERS = "not enough viewers"  # Instagram insights of a post few people saw (#10)
RECONCILE_SLACK = timedelta(minutes=10)  # platform clocks and our first attempt differ a little
_VERSION_TAIL = re.compile(r"/v\d+\.\d+/?$")
_SUBCODE_IN_TEXT = re.compile(r"\b(2207\d{3})\b")


def root_url(base_url: str) -> str:
    """The host's root without the API version (``…/v21.0`` -> ``…``): token endpoints such as
    ``refresh_access_token`` are not versioned."""
    return _VERSION_TAIL.sub("", base_url.rstrip("/"))


def parse_time(value: Any) -> datetime | None:
    """Graph's ``2025-01-31T08:00:00+0000`` (or ISO 8601) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def usage_wait(headers: httpx.Headers) -> datetime | None:
    """When a rate-limited account may call again: the longest ``estimated_time_to_regain_access``
    (minutes) in X-Business-Use-Case-Usage; 10 minutes when X-App-Usage reads 100 % without one."""
    now = datetime.now(UTC)
    minutes = 0
    raw = headers.get("x-business-use-case-usage")
    if raw:
        try:
            usage = json.loads(raw)
        except ValueError:
            usage = {}
        for entries in usage.values() if isinstance(usage, dict) else ():
            for entry in entries if isinstance(entries, list) else ():
                value = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else 0
                if isinstance(value, int | float) and value > minutes:
                    minutes = int(value)
    if minutes > 0:
        return now + timedelta(minutes=minutes)
    app = headers.get("x-app-usage")
    if app:
        try:
            values = json.loads(app)
        except ValueError:
            values = {}
        if isinstance(values, dict) and any(
            isinstance(v, int | float) and v >= 100 for v in values.values()
        ):
            return now + EXHAUSTED_APP_WAIT
    return None


def maybe_published(name: str, detail: str, status: int | None) -> PlatformError:
    """A server error (5xx, Graph code 1/2) in answer to a call that makes something public:
    Facebook does answer so while the post is already live (arsduo/koala#699), so the next attempt
    looks for it on the platform (reconcile) before sending it again."""
    return PlatformError(ErrorClass.OUTCOME_UNKNOWN,
                         f"{name} reported a temporary problem and may have published the post anyway; "
                         "Siar checks before sending it again", detail=detail, status=status)  # fmt: skip


def not_enough_viewers(error: PlatformError) -> bool:
    """Instagram's ``(#10) Not enough viewers for the media to show insights``: no data yet."""
    return NOT_ENOUGH_VIEWERS in (error.detail or "").lower()


def graph_error(response: httpx.Response, name: str, *, can_refresh: bool = False,
                creates: bool = False) -> PlatformError:  # fmt: skip
    """A Graph API failure, classified per the taxonomy; ``name`` is the platform's display
    name; ``can_refresh``: a 190 without a subcode is treated as expired (refreshable);
    ``creates``: the call makes something public, so a server error leaves the outcome unknown."""
    status = response.status_code
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if not isinstance(error, dict):
        detail = f"HTTP {status}: {response.text[:300]}"
        if status >= 500 and creates:
            return maybe_published(name, detail, status)
        if status >= 500 or status in (408, 429):
            return PlatformError(ErrorClass.TRANSIENT, f"{name} had a problem; Siar will try again",
                                 detail=detail, status=status)
        return PlatformError(ErrorClass.INVALID_CONTENT, f"{name} refused the request (HTTP {status})",
                             detail=detail, status=status)
    code = error.get("code")
    subcode = error.get("error_subcode")
    message = str(error.get("message") or "")
    user_msg = str(error.get("error_user_msg") or "")
    said = user_msg or message
    detail = f"HTTP {status}: code {code}" + (f"/{subcode}" if subcode else "") + f": {message}"
    if user_msg:
        detail += f" ({user_msg})"
    if error.get("fbtrace_id"):
        detail += f" [fbtrace_id {error['fbtrace_id']}]"

    def fail(klass: ErrorClass, reason: str, retry_at: datetime | None = None) -> PlatformError:
        return PlatformError(klass, reason, detail=detail, retry_at=retry_at, status=status)

    now = datetime.now(UTC)
    if code == TEMPORARY_BLOCK_CODE or subcode == TEMPORARY_BLOCK_SUBCODE:
        return fail(ErrorClass.RATE_LIMITED,
                    f"{name} has temporarily blocked this account from posting ({said}); "
                    "Siar will try again in an hour",
                    usage_wait(response.headers) or now + BLOCK_WAIT)
    if subcode in POLICY_SUBCODES:
        return fail(ErrorClass.POLICY_REJECTED, f"{name} blocked the post under its policies: {said}")
    if subcode in RESTRICTED_SUBCODES:
        return fail(ErrorClass.PERMISSION_DENIED, f"{name} has restricted this account: sign in to the {name} app, "
                    "complete what it asks, then connect the account again")
    if code in RATE_LIMIT_CODES:
        return fail(ErrorClass.RATE_LIMITED,
                    f"{name} asked Siar to slow down for this account; the post goes out when it allows",
                    usage_wait(response.headers) or now + DEFAULT_RATE_WAIT)
    if code == 9 or subcode == 2207042:
        return fail(ErrorClass.QUOTA_EXHAUSTED,
                    f"this account reached {name}'s limit of posts published through the API in 24 hours; "
                    "Siar will post it when the limit allows",
                    usage_wait(response.headers) or now + QUOTA_WAIT)
    if code in (1, 2) or (status >= 500 and code not in PERMISSION_CODES):
        if creates:
            return maybe_published(name, detail, status)
        return fail(ErrorClass.TRANSIENT, f"{name} had a temporary problem; Siar will try again")
    if code in (190, 102):
        if subcode == 463 or (subcode is None and can_refresh):
            return fail(ErrorClass.AUTH_EXPIRED, f"the {name} access token has expired; Siar will renew it")
        return fail(ErrorClass.AUTH_REVOKED,
                    f"{name} no longer accepts this account's access token; connect the account again")
    if code == 10 and NOT_ENOUGH_VIEWERS in message.lower():
        # Insights of a post too few people have seen (normal for a small account): no data yet,
        # never a missing permission. Insights readers treat it as no readings (not_enough_viewers).
        return fail(ErrorClass.TRANSIENT, f"{name} shows no insights for this post until more people have seen it")
    if code in PERMISSION_CODES:
        return fail(ErrorClass.PERMISSION_DENIED,
                    f"{name} refused: Siar is missing the permission to publish for this account "
                    "(connect it again and allow publishing)")
    if (code == 100 and subcode == 33) or code == 803:
        return fail(ErrorClass.TARGET_GONE, f"{name} cannot find this account, page or post; it may have been "
                    "deleted or Siar no longer has access to it")
    if code == 506:
        return fail(ErrorClass.DUPLICATE, f"{name} refused the post as a duplicate of the previous one")
    if subcode in RETRY_SUBCODES:
        return fail(ErrorClass.TRANSIENT, f"{name} could not take the media yet ({said}); Siar will try again")
    if error.get("is_transient") is True:
        if creates:
            return maybe_published(name, detail, status)
        return fail(ErrorClass.TRANSIENT, f"{name} had a temporary problem; Siar will try again")
    return fail(ErrorClass.INVALID_CONTENT, f"{name} refused the post: {said}")


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    name: str,
    *,
    token: str,
    params: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    json_body: Any = None,
    can_refresh: bool = False,
    creates: bool = False,
) -> dict[str, Any]:
    """One Graph call, its JSON answer, or the classified PlatformError. ``creates``: a call that
    makes something public (a timeout or a server error then leaves the outcome unknown, and the
    next attempt reconciles first); other calls whose answer is lost are simply retried."""
    headers = {"Authorization": f"Bearer {token}"}
    try:
        response = await client.request(method, url, params=params, data=data, json=json_body,
                                         headers=headers)  # fmt: skip
    except httpx.HTTPError as exc:
        error = transport_error(exc, name)
        if error.error_class == ErrorClass.OUTCOME_UNKNOWN and not creates:
            error = PlatformError(ErrorClass.TRANSIENT, f"{name} did not answer in time; Siar will try again",
                                  detail=error.detail)
        raise error from exc
    if not 200 <= response.status_code < 300:
        raise graph_error(response, name, can_refresh=can_refresh, creates=creates)
    try:
        body = response.json()
    except ValueError:
        raise PlatformError(ErrorClass.TRANSIENT, f"{name} sent an answer Siar cannot read; it will try again",
                            detail=response.text[:300], status=response.status_code) from None
    return body if isinstance(body, dict) else {"data": body}


async def poll(check: Callable[[], Awaitable[bool]], wait_seconds: float, first_delay: float = 0.5,
               longest_delay: float = 3.0) -> bool:  # fmt: skip
    """Call ``check`` until it says done (True) or ``wait_seconds`` have passed (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    delay = first_delay
    while True:
        if await check():
            return True
        if loop.time() + delay > deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(longest_delay, delay * 1.5)


def insight_values(body: dict[str, Any]) -> dict[str, int | float]:
    """``{"data":[{"name","values":[{"value"}]|"total_value":{"value"}}]}`` as ``{name: number}``;
    a value that is an object (reactions by type) is summed under the metric's name."""
    found: dict[str, int | float] = {}
    for entry in body.get("data") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        if isinstance(entry.get("total_value"), dict):
            value = entry["total_value"].get("value")
        else:
            values = entry.get("values") or [{}]
            value = values[-1].get("value") if isinstance(values[-1], dict) else None
        if isinstance(value, dict):
            value = sum(v for v in value.values() if isinstance(v, int | float))
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[str(entry["name"])] = value
    return found


def find_by_text(items: Iterable[dict[str, Any]], text: str, since: datetime | None,
                 text_field: str, time_field: str) -> dict[str, Any] | None:  # fmt: skip
    """The oldest item whose text is ``text`` and that appeared after ``since`` (less a margin):
    how a post whose answer was lost is found among the account's recent posts."""
    wanted = text.strip()
    earliest = since - RECONCILE_SLACK if since is not None else None
    matches = []
    for item in items:
        if str(item.get(text_field) or "").strip() != wanted:
            continue
        at = parse_time(item.get(time_field))
        if earliest is not None and (at is None or at < earliest):
            continue
        matches.append((at or datetime.min.replace(tzinfo=UTC), item))
    if not matches:
        return None
    return min(matches, key=lambda m: m[0])[1]


def cannot_tell(name: str, post: Outgoing) -> PlatformError | None:
    """Without text there is nothing to recognise the post by among the account's posts."""
    if post.text.strip():
        return None
    return PlatformError(
        ErrorClass.OUTCOME_UNKNOWN,
        f"{name} may have received this post, and a post without text cannot be recognised among "
        "the account's posts; check the account before sending it again",
    )


class Progress:
    """What an attempt keeps for the next ones: in ``Outgoing.progress`` through ``save`` when the
    caller persists it, and in this process as well (bounded), so that a retry in the same
    process resumes even where the caller keeps nothing."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._kept: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    def load(self, account: Account, post: Outgoing) -> dict[str, Any]:
        return {**self._kept.get((account.account_id, post.target_id), {}), **post.progress}

    async def save(self, account: Account, post: Outgoing, **values: Any) -> None:
        key = (account.account_id, post.target_id)
        self._kept[key] = {**self._kept.get(key, {}), **values}
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)
        await post.save(**values)

    def forget(self, account: Account, post: Outgoing) -> None:
        self._kept.pop((account.account_id, post.target_id), None)


def container_failure(name: str, status: str, text: str | None) -> PlatformError:
    """A container that ended in ERROR or EXPIRED, as a PlatformError."""
    detail = f"container {status}: {text or ''}".strip()
    if status == "EXPIRED":
        return PlatformError(ErrorClass.TRANSIENT,
                             f"{name} let the prepared post expire before it was published; Siar will prepare it again",
                             detail=detail)
    said = text or "no reason given"
    match = _SUBCODE_IN_TEXT.search(said)
    subcode = int(match.group(1)) if match else None
    if subcode in RETRY_SUBCODES or said in ("FAILED_DOWNLOADING_VIDEO", "UNKNOWN"):
        return PlatformError(ErrorClass.TRANSIENT,
                             f"{name} could not fetch or process the media ({said}); Siar will try again",
                             detail=detail)
    return PlatformError(ErrorClass.INVALID_CONTENT, f"{name} could not process the media: {said}", detail=detail)
