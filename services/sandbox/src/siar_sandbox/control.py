"""Inspection and control under ``/_sandbox`` (JSON; bad input gets RFC 9457 problem details).

GET    /_sandbox/posts?platform=&account=&since=&limit=   every accepted post
GET    /_sandbox/stats                                  counts, requests, duplicates
POST   /_sandbox/reset                                  forget everything
GET    /_sandbox/faults      PUT (one config)   DELETE (all, or ?platform=&account=)
GET    /_sandbox/limits      PUT (one limit)    DELETE (back to defaults, or ?platform=)
GET    /_sandbox/tokens      POST /_sandbox/tokens/revoke   POST /_sandbox/tokens/restore
                             POST /_sandbox/tokens/expire (the platform answers "expired")
GET    /_sandbox/clock       PUT {"advance_seconds"|"offset_seconds": N}   the platforms' clock
GET    /_sandbox/mastodon/instance                      PUT (change limits)
GET    /_sandbox/media       GET|HEAD /_sandbox/media/{name}   sample media (see samples.py)
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import samples
from .context import sandbox_of
from .faults import PLATFORMS, ControlInputError, parse_fault_config
from .responses import json_response, problem
from .store import Limit, Store

log = structlog.get_logger("siar_sandbox.control")

_INVALID_JSON = "/_sandbox/problems/invalid-json"
_INVALID_INPUT = "/_sandbox/problems/invalid-input"
_NOT_FOUND = "/_sandbox/problems/not-found"


class _Problem(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("problem")
        self.response = response


def _invalid(errors: list[dict[str, str]], status: int = 422) -> _Problem:
    detail = "; ".join(f"{e['pointer'] or '/'}: {e['detail']}" for e in errors)
    return _Problem(problem(status, "Invalid control input", detail, _INVALID_INPUT, errors))


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise _Problem(
            problem(
                400, "Invalid JSON", "the request body is empty; send a JSON object", _INVALID_JSON
            )
        )
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _Problem(
            problem(400, "Invalid JSON", f"the body is not JSON: {exc}", _INVALID_JSON)
        ) from None


def _handled(handler):  # noqa: ANN001, ANN202 - decorator
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except _Problem as exc:
            return exc.response
        except ControlInputError as exc:
            return _invalid(exc.errors).response

    endpoint.__name__ = handler.__name__
    return endpoint


def _platform_query(request: Request, allow_none: bool = True) -> str | None:
    platform = request.query_params.get("platform") or None
    if platform is None and allow_none:
        return None
    if platform not in PLATFORMS:
        raise _invalid(
            [{"pointer": "?platform", "detail": f"must be one of {', '.join(PLATFORMS)}"}], 400
        )
    return platform


# --------------------------------------------------------------------------- posts and stats


@_handled
async def list_posts(request: Request) -> Response:
    store = sandbox_of(request).store
    platform = _platform_query(request)
    account = request.query_params.get("account") or None
    since_ts: float | None = None
    since = request.query_params.get("since")
    if since:
        try:
            parsed = datetime.fromisoformat(since.strip().replace(" ", "+"))
        except ValueError:
            raise _invalid(
                [
                    {
                        "pointer": "?since",
                        "detail": "must be an ISO 8601 date-time, e.g. 2025-01-31T08:00:00Z",
                    }
                ],
                400,
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        since_ts = parsed.timestamp()
    limit: int | None = None
    raw_limit = request.query_params.get("limit")
    if raw_limit:
        if not raw_limit.isdigit() or int(raw_limit) < 1:
            raise _invalid([{"pointer": "?limit", "detail": "must be a positive integer"}], 400)
        limit = int(raw_limit)
    posts = []
    for post in store.posts:
        if platform is not None and post.platform != platform:
            continue
        if account is not None and post.account != account:
            continue
        if since_ts is not None and post.received_at <= since_ts:
            continue
        posts.append(post.to_json())
        if limit is not None and len(posts) >= limit:
            break
    return json_response({"posts": posts, "count": len(posts)})


@_handled
async def stats(request: Request) -> Response:
    store = sandbox_of(request).store
    by_account: dict[str, dict[str, int]] = {}
    duplicates: dict[str, dict[str, Any]] = {}
    for (platform, account), count in store.posts_by_account.items():
        by_account.setdefault(platform, {})[account] = count
        texts = store.texts_by_account[(platform, account)]
        repeated = {text: n for text, n in texts.items() if n > 1}
        duplicates.setdefault(platform, {})[account] = {
            "posts": count,
            "distinct_texts": len(texts),
            "duplicate_posts": count - len(texts),
            "repeated_texts": [
                {"text": text, "count": n}
                for text, n in sorted(repeated.items(), key=lambda kv: -kv[1])[:20]
            ],
        }
    requests: dict[str, dict[str, int]] = {}
    for (platform, status), count in sorted(store.requests.items()):
        requests.setdefault(platform, {})[str(status)] = count
    faults: dict[str, dict[str, int]] = {}
    for (platform, kind), count in sorted(store.faults_injected.items()):
        faults.setdefault(platform, {})[kind] = count
    return json_response(
        {
            "posts": {
                "total": len(store.posts),
                "by_platform": dict(store.posts_by_platform),
                "by_account": by_account,
            },
            "requests": {"total": sum(store.requests.values()), "by_platform": requests},
            "faults_injected": faults,
            "duplicates": duplicates,
        }
    )


@_handled
async def reset(request: Request) -> Response:
    sandbox_of(request).reset()
    log.info("sandbox_reset")
    return json_response({"status": "reset"})


# --------------------------------------------------------------------------- faults


@_handled
async def get_faults(request: Request) -> Response:
    return json_response({"faults": sandbox_of(request).faults.to_json()})


@_handled
async def put_faults(request: Request) -> Response:
    config = parse_fault_config(await _body(request))
    sandbox = sandbox_of(request)
    sandbox.faults.put(config)
    log.info("faults_set", platform=config.platform, account=config.account)
    return json_response({"fault": config.to_json(), "faults": sandbox.faults.to_json()})


@_handled
async def delete_faults(request: Request) -> Response:
    faults = sandbox_of(request).faults
    if "platform" in request.query_params or "account" in request.query_params:
        platform = _platform_query(request)
        account = request.query_params.get("account") or None
        faults.configs.pop((platform, account), None)
    else:
        faults.clear()
    log.info("faults_cleared")
    return json_response({"faults": faults.to_json()})


# --------------------------------------------------------------------------- limits

_SCOPES = Store.SCOPES


def _limits_json(request: Request) -> list[dict[str, Any]]:
    store = sandbox_of(request).store
    result = []
    for platform, scopes in _SCOPES.items():
        for scope in scopes:
            limit = store.limit_for(platform, scope)
            if limit is not None:
                result.append(
                    {
                        "platform": platform,
                        "scope": scope,
                        "limit": limit.limit,
                        "window_seconds": limit.window_seconds,
                        "default": (platform, scope) not in store.limits,
                    }
                )
    return result


@_handled
async def get_limits(request: Request) -> Response:
    return json_response({"limits": _limits_json(request)})


@_handled
async def put_limits(request: Request) -> Response:
    body = await _body(request)
    if not isinstance(body, dict):
        raise _invalid([{"pointer": "", "detail": "the body must be a JSON object"}])
    errors: list[dict[str, str]] = []
    for key in body:
        if key not in ("platform", "scope", "limit", "window_seconds"):
            errors.append(
                {
                    "pointer": f"/{key}",
                    "detail": "unknown field; allowed: platform, scope, limit, window_seconds",
                }
            )
    platform = body.get("platform")
    if platform not in PLATFORMS:
        errors.append({"pointer": "/platform", "detail": f"must be one of {', '.join(PLATFORMS)}"})
        scopes: tuple[str, ...] = ()
    else:
        scopes = _SCOPES[platform]
    scope = body.get("scope", scopes[0] if scopes else None)
    if scopes and scope not in scopes:
        errors.append(
            {"pointer": "/scope", "detail": f"must be one of {', '.join(scopes)} for {platform}"}
        )
    for name, high in (("limit", 10**12), ("window_seconds", 86_400 * 7)):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            errors.append(
                {"pointer": f"/{name}", "detail": f"must be an integer between 1 and {high}"}
            )
    if errors:
        raise _invalid(errors)
    store = sandbox_of(request).store
    store.limits[(platform, scope)] = Limit(body["limit"], body["window_seconds"])
    log.info(
        "limit_set",
        platform=platform,
        scope=scope,
        limit=body["limit"],
        window_seconds=body["window_seconds"],
    )
    return json_response({"limits": _limits_json(request)})


@_handled
async def delete_limits(request: Request) -> Response:
    store = sandbox_of(request).store
    platform = _platform_query(request)
    for key in list(store.limits):
        if platform is None or key[0] == platform:
            del store.limits[key]
    return json_response({"limits": _limits_json(request)})


# --------------------------------------------------------------------------- tokens


async def _token_body(request: Request) -> tuple[str, str]:
    body = await _body(request)
    if not isinstance(body, dict):
        raise _invalid([{"pointer": "", "detail": "the body must be a JSON object"}])
    errors = []
    platform = body.get("platform")
    if platform not in PLATFORMS:
        errors.append({"pointer": "/platform", "detail": f"must be one of {', '.join(PLATFORMS)}"})
    token = body.get("token")
    if not isinstance(token, str) or not token.strip():
        errors.append({"pointer": "/token", "detail": "must be a non-empty string"})
    for key in body:
        if key not in ("platform", "token"):
            errors.append(
                {"pointer": f"/{key}", "detail": "unknown field; allowed: platform, token"}
            )
    if errors:
        raise _invalid(errors)
    return platform, token.strip()


def _tokens_json(request: Request) -> dict[str, list[str]]:
    store = sandbox_of(request).store
    return {platform: sorted(store.revoked.get(platform, ())) for platform in PLATFORMS}


def _expired_json(request: Request) -> dict[str, list[str]]:
    store = sandbox_of(request).store
    return {platform: sorted(store.expired.get(platform, ())) for platform in PLATFORMS}


@_handled
async def get_tokens(request: Request) -> Response:
    return json_response({"revoked": _tokens_json(request), "expired": _expired_json(request)})


@_handled
async def expire_token(request: Request) -> Response:
    """The platform now treats the token as expired (for a platform that tells expired from
    revoked tokens, its "expired" answer), so a refresh-and-retry path can be exercised."""
    platform, token = await _token_body(request)
    sandbox_of(request).store.expired[platform].add(token)
    log.info("token_expired", platform=platform)
    return json_response({"expired": _expired_json(request)})


@_handled
async def revoke_token(request: Request) -> Response:
    platform, token = await _token_body(request)
    sandbox_of(request).store.revoked[platform].add(token)
    log.info("token_revoked", platform=platform)
    return json_response({"revoked": _tokens_json(request)})


@_handled
async def restore_token(request: Request) -> Response:
    platform, token = await _token_body(request)
    store = sandbox_of(request).store
    store.revoked[platform].discard(token)
    store.expired[platform].discard(token)
    return json_response({"revoked": _tokens_json(request), "expired": _expired_json(request)})


# --------------------------------------------------------------------------- clock


def _clock_json(store: Store) -> dict[str, Any]:
    now = datetime.fromtimestamp(store.now(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"offset_seconds": store.clock_offset, "now": now}


@_handled
async def get_clock(request: Request) -> Response:
    return json_response(_clock_json(sandbox_of(request).store))


@_handled
async def put_clock(request: Request) -> Response:
    """Move the clock of the platforms that read ``store.now()`` (Facebook, Instagram, Threads,
    LinkedIn): ``{"advance_seconds": N}`` adds to the offset, ``{"offset_seconds": N}`` sets it."""
    body = await _body(request)
    errors = []
    if not isinstance(body, dict) or len(body) != 1:
        raise _invalid(
            [{"pointer": "", "detail": 'send {"advance_seconds": N} or {"offset_seconds": N}'}]
        )
    (key, value), = body.items()
    if key not in ("advance_seconds", "offset_seconds"):
        errors.append({"pointer": f"/{key}", "detail": "allowed: advance_seconds, offset_seconds"})
    elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        errors.append({"pointer": f"/{key}", "detail": "must be a number of seconds"})
    if errors:
        raise _invalid(errors)
    store = sandbox_of(request).store
    store.clock_offset = store.clock_offset + value if key == "advance_seconds" else float(value)
    log.info("clock_set", offset_seconds=store.clock_offset)
    return json_response(_clock_json(store))


# --------------------------------------------------------------------------- Mastodon instance

_INSTANCE_FIELDS: dict[str, tuple[type, float, float]] = {
    "max_characters": (int, 1, 1_000_000),
    "max_media_attachments": (int, 1, 100),
    "characters_reserved_per_url": (int, 0, 10_000),
    "image_size_limit": (int, 1, 10**12),
    "video_size_limit": (int, 1, 10**12),
    "description_limit": (int, 1, 1_000_000),
    "media_processing_seconds": (float, 0, 3_600),
}


@_handled
async def get_instance(request: Request) -> Response:
    return json_response(dict(sandbox_of(request).store.mastodon.instance))


@_handled
async def put_instance(request: Request) -> Response:
    body = await _body(request)
    if not isinstance(body, dict) or not body:
        raise _invalid([{"pointer": "", "detail": "the body must be a non-empty JSON object"}])
    errors = []
    for key, value in body.items():
        spec = _INSTANCE_FIELDS.get(key)
        if spec is None:
            errors.append(
                {
                    "pointer": f"/{key}",
                    "detail": f"unknown field; allowed: {', '.join(_INSTANCE_FIELDS)}",
                }
            )
            continue
        kind, low, high = spec
        ok = not isinstance(value, bool) and (
            isinstance(value, int)
            if kind is int
            else isinstance(value, int | float) and math.isfinite(value)
        )
        if not ok or not low <= value <= high:
            noun = "an integer" if kind is int else "a number"
            errors.append(
                {"pointer": f"/{key}", "detail": f"must be {noun} between {low:g} and {high:g}"}
            )
    if errors:
        raise _invalid(errors)
    instance = sandbox_of(request).store.mastodon.instance
    instance.update(body)
    log.info("mastodon_instance_set", **body)
    return json_response(dict(instance))


# --------------------------------------------------------------------------- sample media


def _base(request: Request) -> str:
    """The sandbox's own root URL (root_path here ends with the /_sandbox mount)."""
    url = request.url
    root = str(request.scope.get("root_path", "")).removesuffix("/_sandbox")
    return f"{url.scheme}://{url.netloc}{root}"


@_handled
async def list_media(request: Request) -> Response:
    base = _base(request)
    found = (samples.sample(name) for name in samples.NAMES)
    return json_response({"media": [s.to_json(base) for s in found if s is not None]})


@_handled
async def get_media(request: Request) -> Response:
    name = request.path_params["name"]
    sample = samples.sample(name)
    if sample is None:
        raise _Problem(
            problem(
                404,
                "Not Found",
                f"no sample media {name!r}; available: {', '.join(samples.NAMES)}",
                _NOT_FOUND,
            )
        )
    headers = {"Cache-Control": "public, max-age=86400"}
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(sample.data))
        return Response(b"", headers=headers, media_type=sample.content_type)
    return Response(sample.data, headers=headers, media_type=sample.content_type)


async def control_not_found(request: Request) -> Response:
    return problem(
        404, "Not Found", f"no control endpoint {request.method} {request.url.path}", _NOT_FOUND
    )


routes = [
    Route("/posts", list_posts, methods=["GET"]),
    Route("/stats", stats, methods=["GET"]),
    Route("/reset", reset, methods=["POST"]),
    Route("/faults", get_faults, methods=["GET"]),
    Route("/faults", put_faults, methods=["PUT"]),
    Route("/faults", delete_faults, methods=["DELETE"]),
    Route("/limits", get_limits, methods=["GET"]),
    Route("/limits", put_limits, methods=["PUT"]),
    Route("/limits", delete_limits, methods=["DELETE"]),
    Route("/tokens", get_tokens, methods=["GET"]),
    Route("/tokens/revoke", revoke_token, methods=["POST"]),
    Route("/tokens/restore", restore_token, methods=["POST"]),
    Route("/tokens/expire", expire_token, methods=["POST"]),
    Route("/clock", get_clock, methods=["GET"]),
    Route("/clock", put_clock, methods=["PUT"]),
    Route("/mastodon/instance", get_instance, methods=["GET"]),
    Route("/mastodon/instance", put_instance, methods=["PUT"]),
    Route("/media", list_media, methods=["GET"]),
    Route("/media/{name}", get_media, methods=["GET", "HEAD"]),
    Route(
        "/{rest:path}",
        control_not_found,
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    ),
]
