"""Publishing through containers, as Instagram and Threads do: make a container (items first for a
carousel), wait for it to be processed, publish it, then read the permalink.

One post per target, ever:
- making containers publishes nothing (an unpublished container expires after 24 hours), so a
  lost answer there is simply retried;
- the container id is kept (``Outgoing.save`` and this process) before waiting, so a retry
  resumes it instead of making another, and a post whose publish answer was lost is found
  by the container's status: PUBLISHED means it is live;
- without a kept container, the account's recent posts are searched for the same text since the
  first attempt.

Processing is waited for ``processing_wait_seconds`` within one attempt; a container still
IN_PROGRESS then ends the attempt with :class:`StillProcessing`: the delivery looks again later
without counting an attempt (a Reel may take many minutes), on the same container, until 24 hours
after the container was made (when the platform lets an unpublished container expire)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from siar_contracts import ErrorClass, MediaItem

from .base import Account, Outgoing, PlatformError, Published, Refreshed, StillProcessing, Verified
from .graph import (
    Progress,
    cannot_tell,
    container_failure,
    find_by_text,
    insight_values,
    poll,
    request,
    root_url,
)


class ContainerAdapter:
    platform: str
    name: str  # the platform as librarians call it
    required_credentials: tuple[str, ...] = ("access_token",)
    required_settings: tuple[str, ...]
    owner_setting: str
    create_edge: str
    publish_edge: str
    list_edge: str
    text_field: str  # the post's text in lists: caption | text
    status_fields: str
    refresh_grant: str
    insight_metrics: str
    processing_wait_seconds = 20.0
    poll_first_delay = 0.5
    # After the wait of an attempt, look again in half the container's age, within these bounds.
    recheck_min_seconds = 30.0
    recheck_max_seconds = 600.0
    container_lifetime = timedelta(hours=24)  # an unpublished container EXPIRES after this

    def __init__(self) -> None:
        self.progress = Progress()

    # --- what differs between Instagram and Threads

    def container_steps(self, post: Outgoing) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The parameters of the item containers and of the container to publish; for a single
        post the items list holds it and the second value is None."""
        raise NotImplementedError

    def status_of(self, body: dict[str, Any]) -> tuple[str, str | None]:
        """(IN_PROGRESS | FINISHED | ERROR | EXPIRED | PUBLISHED, the error text)."""
        raise NotImplementedError

    def profile_url(self, account: Account) -> str | None:
        raise NotImplementedError

    async def verify(self, client: httpx.AsyncClient, account: Account) -> Verified:
        raise NotImplementedError

    async def audience(self, client: httpx.AsyncClient, account: Account) -> dict[str, int]:
        raise NotImplementedError

    def can_refresh(self, account: Account) -> bool:
        return True

    # --- calls

    def _url(self, account: Account, *path: str) -> str:
        return "/".join([account.base_url.rstrip("/"), *path])

    def _owner(self, account: Account) -> str:
        return str(account.settings[self.owner_setting])

    async def _call(self, client: httpx.AsyncClient, account: Account, method: str, *path: str,
                    creates: bool = False, **kwargs: Any) -> dict[str, Any]:  # fmt: skip
        return await request(
            client, method, self._url(account, *path), self.name,
            token=account.credentials["access_token"], can_refresh=self.can_refresh(account),
            creates=creates, **kwargs,
        )  # fmt: skip

    async def _status(self, client: httpx.AsyncClient, account: Account, container: str) -> tuple[str, str | None]:
        body = await self._call(client, account, "GET", container, params={"fields": self.status_fields})
        return self.status_of(body)

    async def _create(self, client: httpx.AsyncClient, account: Account, params: dict[str, Any]) -> str:
        body = await self._call(client, account, "POST", self._owner(account), self.create_edge, data=params)
        if not body.get("id"):
            raise PlatformError(ErrorClass.TRANSIENT, f"{self.name} made no container; Siar will try again",
                                detail=str(body)[:300])
        return str(body["id"])

    async def _wait(self, client: httpx.AsyncClient, account: Account, post: Outgoing, containers: list[str],
                    deadline: float, made_at: datetime | None) -> str:  # fmt: skip
        """Wait until every container is FINISHED (or one is PUBLISHED, returned at once), until
        ``deadline`` (the event loop's clock) at the latest; then :class:`StillProcessing`, with
        the containers' life (from ``made_at``) as the time to give up."""
        pending = list(containers)
        published: list[str] = []

        async def check() -> bool:
            for container in list(pending):
                status, text = await self._status(client, account, container)
                if status == "FINISHED":
                    pending.remove(container)
                elif status == "PUBLISHED":
                    published.append(container)
                    return True
                elif status in ("ERROR", "EXPIRED"):
                    raise container_failure(self.name, status, text)
                else:
                    return False
            return True

        remaining = deadline - asyncio.get_running_loop().time()
        done = await poll(check, remaining, self.poll_first_delay)
        if published:
            return "PUBLISHED"
        if not done:
            raise self._still_processing(post, pending, made_at)
        return "FINISHED"

    def _still_processing(self, post: Outgoing, pending: list[str], made_at: datetime | None) -> StillProcessing:
        now = datetime.now(UTC)
        # Without the time the container was made, the delivery bounds the wait by its own.
        give_up_at = made_at + self.container_lifetime if made_at else None
        age = max(0.0, (now - made_at).total_seconds()) if made_at else 0.0
        delay = min(self.recheck_max_seconds, max(self.recheck_min_seconds, age / 2))
        retry_at = now + timedelta(seconds=delay)
        if give_up_at is not None:
            retry_at = min(retry_at, give_up_at)
        what = "video" if any(m.kind == "video" for m in post.media) else "media"
        return StillProcessing(
            f"{self.name} is still processing the {what}; Siar checks again at {retry_at:%H:%M} UTC",
            retry_at=retry_at, give_up_at=give_up_at,
            detail=f"containers still IN_PROGRESS {age:.0f} s after they were made: {', '.join(pending)}",
        )

    async def _kept_status(self, client: httpx.AsyncClient, account: Account, container: str) -> str:
        try:
            status, _ = await self._status(client, account, container)
        except PlatformError as exc:
            if exc.error_class != ErrorClass.TARGET_GONE:
                raise
            return "GONE"
        return status

    # --- publishing

    async def publish(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published:
        # One deadline for all the waiting of this attempt: it must end well within its lease.
        deadline = asyncio.get_running_loop().time() + self.processing_wait_seconds
        kept = self.progress.load(account, post)
        container = kept.get("container")
        made_at = _moment(kept.get("container_made_at"))
        if container:
            status = await self._kept_status(client, account, container)
            if status == "PUBLISHED":
                return await self._found_published(client, account, post, container)
            if status not in ("IN_PROGRESS", "FINISHED"):
                container = None
        if not container:
            items, parent = self.container_steps(post)
            if parent is None:
                container = await self._create(client, account, items[0])
            else:
                children = kept.get("children")
                children_made_at = _moment(kept.get("children_made_at"))
                if not (isinstance(children, list) and len(children) == len(items) and all(
                        [await self._kept_status(client, account, c) in ("IN_PROGRESS", "FINISHED")
                         for c in children])):  # fmt: skip
                    children_made_at = datetime.now(UTC)
                    children = [await self._create(client, account, params) for params in items]
                    await self.progress.save(account, post, children=children,
                                             children_made_at=children_made_at.isoformat())  # fmt: skip
                await self._wait(client, account, post, children, deadline, children_made_at)
                container = await self._create(client, account, {**parent, "children": ",".join(children)})
            made_at = datetime.now(UTC)
            await self.progress.save(account, post, container=container, container_made_at=made_at.isoformat())
        if await self._wait(client, account, post, [container], deadline, made_at) == "PUBLISHED":
            return await self._found_published(client, account, post, container)
        body = await self._call(client, account, "POST", self._owner(account), self.publish_edge,
                                data={"creation_id": container}, creates=True)  # fmt: skip
        if not body.get("id"):
            raise PlatformError(ErrorClass.OUTCOME_UNKNOWN,
                                f"{self.name} accepted the post without saying its id; Siar checks before sending again",
                                detail=str(body)[:300])
        self.progress.forget(account, post)
        media_id = str(body["id"])
        return Published(platform_post_id=media_id, url=await self._permalink(client, account, media_id))

    async def _permalink(self, client: httpx.AsyncClient, account: Account, media_id: str) -> str | None:
        # The post is live: the URL is cosmetic and never worth failing (and re-posting) over.
        try:
            body = await self._call(client, account, "GET", media_id, params={"fields": "permalink"})
        except PlatformError:
            return self.profile_url(account)
        return body.get("permalink") or self.profile_url(account)

    async def _recent(self, client: httpx.AsyncClient, account: Account) -> list[dict[str, Any]]:
        body = await self._call(
            client, account, "GET", self._owner(account), self.list_edge,
            params={"fields": f"id,{self.text_field},timestamp,permalink", "limit": 50},
        )  # fmt: skip
        return [item for item in body.get("data") or [] if isinstance(item, dict)]

    async def _found_published(self, client: httpx.AsyncClient, account: Account, post: Outgoing,
                               container: str) -> Published:  # fmt: skip
        """The container was published (by an attempt whose answer was lost): find its post."""
        self.progress.forget(account, post)
        match = find_by_text(await self._recent(client, account), post.text, post.first_attempt_at,
                             self.text_field, "timestamp")  # fmt: skip
        if match is not None:
            return Published(platform_post_id=str(match["id"]), url=match.get("permalink"))
        # Live for certain, but not among the recent posts (edited text? many posts since?): the
        # container id is the best reference there is, and the library is told what that means.
        return Published(platform_post_id=container, url=self.profile_url(account), notice=(
            f"{self.name} published it, but Siar could not find it among the account's recent posts, so it "
            "knows only the upload's id: the link goes to the profile and its engagement will not be measured"))

    async def reconcile(self, client: httpx.AsyncClient, account: Account, post: Outgoing) -> Published | None:
        container = self.progress.load(account, post).get("container")
        if container:
            status = await self._kept_status(client, account, container)
            if status == "PUBLISHED":
                return await self._found_published(client, account, post, container)
            if status in ("IN_PROGRESS", "FINISHED"):
                return None  # not published: publish() resumes this container
        unknown = cannot_tell(self.name, post)
        if unknown is not None:
            raise unknown
        match = find_by_text(await self._recent(client, account), post.text, post.first_attempt_at,
                             self.text_field, "timestamp")  # fmt: skip
        if match is None:
            return None
        self.progress.forget(account, post)
        return Published(platform_post_id=str(match["id"]), url=match.get("permalink"))

    # --- tokens and metrics

    async def refresh(self, client: httpx.AsyncClient, account: Account) -> Refreshed:
        if not self.can_refresh(account):
            raise PlatformError(ErrorClass.AUTH_REVOKED,
                                f"this {self.name} token cannot be renewed by Siar; connect the account again")
        body = await request(
            client, "GET", f"{root_url(account.base_url)}/refresh_access_token", self.name,
            token=account.credentials["access_token"],
            params={"grant_type": self.refresh_grant, "access_token": account.credentials["access_token"]},
        )  # fmt: skip
        token = body.get("access_token")
        if not token:
            raise PlatformError(ErrorClass.AUTH_REVOKED, f"{self.name} did not renew the token; connect the account again",
                                detail=str(body)[:300])
        expires_in = body.get("expires_in")
        expires_at = (datetime.now(UTC) + timedelta(seconds=float(expires_in))
                      if isinstance(expires_in, int | float) else None)  # fmt: skip
        return Refreshed(credentials={**account.credentials, "access_token": token}, expires_at=expires_at)

    async def token_expiry(self, client: httpx.AsyncClient, account: Account) -> datetime | None:
        """When the token ends, from ``debug_token`` where the host has it, else from the
        credentials (``expires_at``: epoch seconds or ISO 8601, as the OAuth exchange gave)."""
        token = account.credentials["access_token"]
        try:
            body = await request(client, "GET", self._url(account, "debug_token"), self.name, token=token,
                                 params={"input_token": token})  # fmt: skip
        except PlatformError:
            body = {}
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        expires = data.get("expires_at")
        if isinstance(expires, int | float) and expires > 0:
            return datetime.fromtimestamp(expires, UTC)
        if data.get("is_valid") is True:
            return None
        return credentials_expiry(account.credentials)

    async def insights(self, client: httpx.AsyncClient, account: Account, platform_post_id: str) -> dict[str, int | float]:
        body = await self._call(client, account, "GET", platform_post_id, "insights",
                                params={"metric": self.insight_metrics})  # fmt: skip
        return insight_values(body)


def credentials_expiry(credentials: dict[str, Any]) -> datetime | None:
    value = credentials.get("expires_at")
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _moment(value: Any) -> datetime | None:
    """A time kept in the progress (ISO 8601), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def kind_of(media: MediaItem) -> str:
    return "video" if media.kind == "video" else "image"
