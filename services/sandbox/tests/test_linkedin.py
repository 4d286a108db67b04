"""The LinkedIn Posts API imitation over the real app: versioning, tokens, image upload, posts and
the x-restli-id header, duplicates, limits without headers, OAuth and statistics."""

from __future__ import annotations

from siar_sandbox import linkedin
from siar_sandbox.samples import sample

TOKEN = "perpuskota.secret"
PERSON = f"urn:li:person:{linkedin.person_id('perpuskota')}"
ORG = "urn:li:organization:2414183"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "LinkedIn-Version": "202510", "X-Restli-Protocol-Version": "2.0.0"}


def li_error(r, status: int, code: str | None = None, service: int | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and body.get("code") == code and body.get("serviceErrorCode") == service, body
    return body


def post_body(author: str = PERSON, commentary: str = "Halo", **extra) -> dict:
    return {"author": author, "commentary": commentary, "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False, **extra}  # fmt: skip


async def upload(client, owner: str = PERSON, name: str = "photo.jpg") -> str:
    r = await client.post("/linkedin/rest/images?action=initializeUpload", headers=HEADERS,
                          json={"initializeUploadRequest": {"owner": owner}})  # fmt: skip
    value = r.json()["value"]
    urn = value["image"]
    got = await client.get(f"/linkedin/rest/images/{urn}", headers=HEADERS)
    assert got.json()["status"] == "WAITING_UPLOAD"
    put = await client.put(value["uploadUrl"], content=sample(name).data, headers={"Authorization": f"Bearer {TOKEN}"})
    assert put.status_code == 201
    return urn


async def test_userinfo_and_organizations(client):
    r = await client.get("/linkedin/v2/userinfo", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.json()["sub"] == linkedin.person_id("perpuskota") and r.json()["name"] == "Perpuskota Library"
    r = await client.get("/linkedin/rest/organizations/2414183", headers=HEADERS)
    assert r.json()["localizedName"] == "Perpustakaan 4183" and r.json()["vanityName"] == "perpustakaan-4183"
    li_error(await client.get("/linkedin/rest/organizations/0999", headers=HEADERS), 404, "NOT_FOUND")


async def test_versions_and_tokens(client):
    r = await client.post("/linkedin/rest/posts", headers={"Authorization": f"Bearer {TOKEN}"}, json=post_body())
    li_error(r, 400, "VERSION_MISSING")
    li_error(await client.post("/linkedin/rest/posts", headers={**HEADERS, "LinkedIn-Version": "2025"}, json=post_body()),
             426, "NONEXISTENT_VERSION")  # fmt: skip
    li_error(await client.post("/linkedin/rest/posts", headers={**HEADERS, "Authorization": "Bearer revoked.x"},
                               json=post_body()), 401, "REVOKED_ACCESS_TOKEN", 65601)  # fmt: skip
    li_error(await client.post("/linkedin/rest/posts", headers={**HEADERS, "Authorization": "Bearer expired.x"},
                               json=post_body()), 401, "EXPIRED_ACCESS_TOKEN", 65602)  # fmt: skip
    li_error(await client.post("/linkedin/rest/posts", headers={**HEADERS, "Authorization": ""}, json=post_body()),
             401, "EMPTY_ACCESS_TOKEN", 65604)  # fmt: skip
    await client.post("/_sandbox/tokens/revoke", json={"platform": "linkedin", "token": TOKEN})
    li_error(await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body()), 401, "REVOKED_ACCESS_TOKEN", 65601)


async def test_post_with_an_image_and_the_restli_id(client):
    urn = await upload(client)
    assert (await client.get(f"/linkedin/rest/images/{urn}", headers=HEADERS)).json()["status"] == "AVAILABLE"
    r = await client.post("/linkedin/rest/posts", headers=HEADERS,
                          json=post_body(commentary="Lomba {hashtag|\\#|BacaBuku} \\(anak\\)",
                                         content={"media": {"id": urn, "altText": "Poster"}}))  # fmt: skip
    assert r.status_code == 201 and r.content == b""
    share = r.headers["x-restli-id"]
    assert share.startswith("urn:li:share:")
    [post] = (await client.get("/_sandbox/posts", params={"platform": "linkedin"})).json()["posts"]
    assert post["id"] == share and post["text"] == "Lomba #BacaBuku (anak)" and post["account"] == PERSON
    assert post["url"] == f"https://www.linkedin.com/feed/update/{share}"
    got = await client.get(f"/linkedin/rest/posts/{share.replace(':', '%3A')}", headers=HEADERS)
    assert got.json()["content"]["media"]["id"] == urn and isinstance(got.json()["createdAt"], int)
    listed = await client.get("/linkedin/rest/posts", headers={**HEADERS, "X-RestLi-Method": "FINDER"},
                              params={"q": "author", "author": PERSON, "count": 5})  # fmt: skip
    assert [e["id"] for e in listed.json()["elements"]] == [share]


async def test_refused_posts(client):
    other = await upload(client, owner=ORG)
    li_error(await client.post("/linkedin/rest/posts", headers=HEADERS,
                               json=post_body(content={"media": {"id": other}})), 422, "UNPROCESSABLE_ENTITY")  # fmt: skip
    r = await client.post("/linkedin/rest/images?action=initializeUpload", headers=HEADERS,
                          json={"initializeUploadRequest": {"owner": PERSON}})  # fmt: skip
    waiting = r.json()["value"]["image"]
    li_error(await client.post("/linkedin/rest/posts", headers=HEADERS,
                               json=post_body(content={"media": {"id": waiting}})), 422, "UNPROCESSABLE_ENTITY")  # fmt: skip
    not_image = await upload(client, name="clip.mp4")
    assert (await client.get(f"/linkedin/rest/images/{not_image}", headers=HEADERS)).json()["status"] == "PROCESSING_FAILED"
    li_error(await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(commentary="a" * 3001)),
             422, "UNPROCESSABLE_ENTITY", 100)  # fmt: skip
    someone = f"urn:li:person:{linkedin.person_id('someone')}"
    li_error(await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(author=someone)), 403, "ACCESS_DENIED", 100)
    li_error(await client.post("/linkedin/rest/posts", headers={**HEADERS, "Authorization": "Bearer noperm.x"},
                               json=post_body(author=ORG)), 403, "ACCESS_DENIED", 100)  # fmt: skip


async def test_duplicates_within_a_day(client):
    first = await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(commentary="Sama"))
    again = await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(commentary="Sama"))
    # LinkedIn's shape: the code is in errorDetails.inputErrors, none at the top (Arisamiga/Linkedin-RSS#5).
    body = li_error(again, 422)
    assert body == {
        "errorDetailType": "com.linkedin.common.error.BadRequest",
        "message": "com.linkedin.content.common.exception.BadRequestResponseException: "
                   f"Content is a duplicate of {first.headers['x-restli-id']}",
        "errorDetails": {"inputErrors": [{"description": "Duplicate post is detected", "input": {},
                                          "code": "DUPLICATE_POST"}]},
        "status": 422,
    }
    await client.put("/_sandbox/clock", json={"advance_seconds": 86401})
    assert (await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(commentary="Sama"))).status_code == 201


async def test_limits_and_faults_have_no_rate_limit_headers(client):
    await client.put("/_sandbox/limits", json={"platform": "linkedin", "scope": "posts", "limit": 1, "window_seconds": 86400})
    await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(commentary="1"))
    r = await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(commentary="2"))
    assert "MEMBER DAY limit" in li_error(r, 429, "TOO_MANY_REQUESTS")["message"]
    assert not any(h.startswith(("retry-after", "x-ratelimit", "ratelimit")) for h in r.headers)
    await client.put("/_sandbox/faults", json={"platform": "linkedin", "account": ORG, "sequence": ["429", "500", "504"]})
    li_error(await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(author=ORG)), 429, "TOO_MANY_REQUESTS")
    li_error(await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(author=ORG)), 500)
    assert (await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(author=ORG))).status_code == 504
    assert (await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(author=ORG))).status_code == 201


async def test_oauth_refresh_and_introspection(client):
    form = {"grant_type": "refresh_token", "refresh_token": "perpuskota.refresh", "client_id": "a", "client_secret": "b"}
    body = (await client.post("/linkedin/oauth/v2/accessToken", data=form)).json()
    assert body["expires_in"] == 5_184_000 and body["refresh_token"] == "perpuskota.refresh"
    assert 0 < body["refresh_token_expires_in"] <= 365 * 86400
    info = (await client.post("/linkedin/oauth/v2/introspectToken",
                              data={"client_id": "a", "client_secret": "b", "token": body["access_token"]})).json()  # fmt: skip
    assert info["active"] is True and info["status"] == "active" and info["expires_at"] > info["created_at"]
    r = await client.post("/linkedin/oauth/v2/accessToken", data={**form, "client_secret": ""})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client.post("/linkedin/oauth/v2/accessToken", data={**form, "refresh_token": "revoked.r"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_share_statistics_and_network_size(client):
    share = (await client.post("/linkedin/rest/posts", headers=HEADERS, json=post_body(author=ORG))).headers["x-restli-id"]
    await client.put("/_sandbox/clock", json={"advance_seconds": 6 * 3600})
    r = await client.get("/linkedin/rest/organizationalEntityShareStatistics", headers=HEADERS,
                         params={"q": "organizationalEntity", "organizationalEntity": ORG, "shares": f"List({share})"})  # fmt: skip
    [element] = r.json()["elements"]
    assert element["share"] == share and element["organizationalEntity"] == ORG
    expected = linkedin.share_statistics(share, 6 * 3600)
    assert abs(element["totalShareStatistics"]["impressionCount"] - expected["impressionCount"]) <= 1
    total = await client.get("/linkedin/rest/organizationalEntityShareStatistics", headers=HEADERS,
                             params={"q": "organizationalEntity", "organizationalEntity": ORG})  # fmt: skip
    assert total.json()["elements"][0]["totalShareStatistics"]["impressionCount"] >= expected["impressionCount"]
    r = await client.get(f"/linkedin/rest/networkSizes/{ORG}", headers=HEADERS, params={"edgeType": "COMPANY_FOLLOWED_BY_MEMBER"})
    assert r.json() == {"firstDegreeSize": linkedin.follower_count(ORG, 1)}
    li_error(await client.get("/linkedin/rest/nope", headers=HEADERS), 404, "NOT_FOUND")


async def test_tokens_expired_through_control(client):
    await client.post("/_sandbox/tokens/expire", json={"platform": "linkedin", "token": TOKEN})
    li_error(await client.get("/linkedin/rest/organizations/1", headers=HEADERS), 401, "EXPIRED_ACCESS_TOKEN", 65602)
    await client.post("/_sandbox/tokens/expire", json={"platform": "threads", "token": TOKEN})
    r = await client.get("/threads/me", params={"access_token": TOKEN})
    assert r.status_code == 400 and r.json()["error"]["error_subcode"] == 463
