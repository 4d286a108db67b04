"""Telegram Bot API methods, parameter forms, errors and flood limits, over the real app."""

from __future__ import annotations

import json

import pytest


def ok(r) -> dict:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True
    return body["result"]


def err(r, code: int, description: str) -> None:
    assert r.status_code == code, r.text
    assert r.json() == {"ok": False, "error_code": code, "description": description}


async def test_get_me_by_get_and_post(client, tg):
    for r in (await client.get(f"{tg}/getMe"), await client.post(f"{tg}/getMe")):
        me = ok(r)
        assert me["id"] == 123456789 and me["is_bot"] is True
        assert r.headers["content-type"] == "application/json"


async def test_send_message_in_every_parameter_form(client, tg):
    results = [
        ok(
            await client.get(
                f"{tg}/sendMessage", params={"chat_id": "@perpuskota", "text": "query"}
            )
        ),
        ok(await client.post(f"{tg}/sendMessage", json={"chat_id": "@perpuskota", "text": "json"})),
        ok(await client.post(f"{tg}/sendMessage", data={"chat_id": "@perpuskota", "text": "form"})),
        ok(
            await client.post(
                f"{tg}/sendMessage",
                files={"chat_id": (None, "@perpuskota"), "text": (None, "multipart")},
            )
        ),
        ok(await client.post(f"{tg}/sendMessage?chat_id=@perpuskota", json={"text": "mixed"})),
    ]
    assert [m["message_id"] for m in results] == [1, 2, 3, 4, 5]
    assert [m["text"] for m in results] == ["query", "json", "form", "multipart", "mixed"]
    chat = results[0]["chat"]
    assert chat["type"] == "channel" and chat["username"] == "perpuskota"
    assert str(chat["id"]).startswith("-100") and len(str(chat["id"])) == 14
    assert all(m["chat"]["id"] == chat["id"] for m in results)
    assert results[0]["sender_chat"] == chat
    assert isinstance(results[0]["date"], int)
    other = ok(await client.post(f"{tg}/sendMessage", json={"chat_id": "@lain_kanal", "text": "x"}))
    assert other["message_id"] == 1 and other["chat"]["id"] != chat["id"]
    by_id = ok(
        await client.post(f"{tg}/sendMessage", json={"chat_id": chat["id"], "text": "by id"})
    )
    assert by_id["chat"]["username"] == "perpuskota" and by_id["message_id"] == 6
    recorded = (
        await client.get(
            "/_sandbox/posts", params={"platform": "telegram", "account": "@perpuskota"}
        )
    ).json()
    assert recorded["count"] == 6
    assert recorded["posts"][0]["url"] == "https://t.me/perpuskota/1"


async def test_methods_are_case_insensitive_and_unknown_is_404(client, tg):
    ok(await client.post(f"{tg}/SENDMESSAGE", json={"chat_id": "@kanal1", "text": "x"}))
    err(await client.post(f"{tg}/sendCarrierPigeon", json={}), 404, "Not Found")
    err(await client.get("/telegram/nothing"), 404, "Not Found")


@pytest.mark.parametrize(
    ("token", "description"),
    [
        ("abc", "Unauthorized: invalid token specified"),
        ("0123:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ", "Unauthorized: invalid token specified"),
        ("123:short", "Unauthorized"),
        ("123456:revokedAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Unauthorized"),
    ],
)
async def test_bad_tokens(client, token, description):
    err(await client.post(f"/telegram/bot{token}/getMe"), 401, description)


async def test_revoked_token(client, tg):
    token = tg.removeprefix("/telegram/bot")
    r = await client.post("/_sandbox/tokens/revoke", json={"platform": "telegram", "token": token})
    assert r.status_code == 200
    err(
        await client.post(f"{tg}/sendMessage", json={"chat_id": "@a_chan", "text": "x"}),
        401,
        "Unauthorized",
    )


async def test_chat_errors(client, tg):
    send = f"{tg}/sendMessage"
    err(
        await client.post(send, json={"chat_id": "@notfound_kanal", "text": "x"}),
        400,
        "Bad Request: chat not found",
    )
    err(
        await client.post(send, json={"chat_id": "@notmember_kanal", "text": "x"}),
        403,
        "Forbidden: bot is not a member of the channel chat",
    )
    err(
        await client.post(send, json={"chat_id": "@noadmin_kanal", "text": "x"}),
        400,
        "Bad Request: need administrator rights in the channel chat",
    )
    err(
        await client.post(send, json={"chat_id": "@nopost_kanal", "text": "x"}),
        400,
        "Bad Request: not enough rights to send text messages to the chat",
    )
    err(await client.post(send, json={"text": "x"}), 400, "Bad Request: chat_id is empty")
    assert (await client.get("/_sandbox/posts")).json()["count"] == 0


async def test_text_errors_and_utf16_lengths(client, tg):
    send = f"{tg}/sendMessage"
    err(
        await client.post(send, json={"chat_id": "@kanal", "text": ""}),
        400,
        "Bad Request: message text is empty",
    )
    err(
        await client.post(send, json={"chat_id": "@kanal", "text": "  \n "}),
        400,
        "Bad Request: message text is empty",
    )
    err(
        await client.post(send, json={"chat_id": "@kanal", "text": "a" * 4097}),
        400,
        "Bad Request: message is too long",
    )
    ok(await client.post(send, json={"chat_id": "@kanal", "text": "a" * 4096}))
    ok(
        await client.post(send, json={"chat_id": "@kanal", "text": "😀" * 2048})
    )  # 4096 UTF-16 units
    err(
        await client.post(send, json={"chat_id": "@kanal", "text": "😀" * 2049}),
        400,
        "Bad Request: message is too long",
    )
    # The limit applies after entity parsing: markup does not count.
    ok(
        await client.post(
            send,
            json={"chat_id": "@kanal", "text": "<b>" + "a" * 4096 + "</b>", "parse_mode": "HTML"},
        )
    )


async def test_parse_modes_and_entities(client, tg):
    send = f"{tg}/sendMessage"
    m = ok(
        await client.post(
            send,
            json={
                "chat_id": "@kanal",
                "text": '<b>Acara</b> di <a href="https://perpus.example.id">perpustakaan</a> #literasi',
                "parse_mode": "HTML",
            },
        )
    )
    assert m["text"] == "Acara di perpustakaan #literasi"
    assert m["entities"] == [
        {"offset": 0, "length": 5, "type": "bold"},
        {"offset": 9, "length": 12, "type": "text_link", "url": "https://perpus.example.id"},
        {"offset": 22, "length": 9, "type": "hashtag"},
    ]
    m = ok(
        await client.post(
            send,
            json={
                "chat_id": "@kanal",
                "text": "*Tebal* dan _miring_ \\!",
                "parse_mode": "MarkdownV2",
            },
        )
    )
    assert m["text"] == "Tebal dan miring !"
    err(
        await client.post(
            send, json={"chat_id": "@kanal", "text": "Selesai.", "parse_mode": "MarkdownV2"}
        ),
        400,
        "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
    )
    err(
        await client.post(send, json={"chat_id": "@kanal", "text": "a<br>b", "parse_mode": "HTML"}),
        400,
        'Bad Request: can\'t parse entities: Unsupported start tag "br" at byte offset 1',
    )
    err(
        await client.post(send, json={"chat_id": "@kanal", "text": "x", "parse_mode": "Foo"}),
        400,
        "Bad Request: unsupported parse_mode",
    )
    m = ok(
        await client.post(
            send,
            json={
                "chat_id": "@kanal",
                "text": "https://example.com",
                "link_preview_options": {"is_disabled": True},
            },
        )
    )
    assert m["link_preview_options"] == {"is_disabled": True}
    assert m["entities"] == [{"offset": 0, "length": 19, "type": "url"}]


async def test_send_photo_by_url_upload_and_file_id(client, tg, png):
    by_url = ok(
        await client.post(
            f"{tg}/sendPhoto",
            json={
                "chat_id": "@kanal",
                "photo": "https://cdn.example.id/poster.jpg",
                "caption": "<i>Poster</i>",
                "parse_mode": "HTML",
            },
        )
    )
    assert by_url["caption"] == "Poster"
    assert by_url["caption_entities"] == [{"offset": 0, "length": 6, "type": "italic"}]
    assert all({"file_id", "file_unique_id", "width", "height"} <= set(p) for p in by_url["photo"])
    uploaded = ok(
        await client.post(
            f"{tg}/sendPhoto",
            data={"chat_id": "@kanal", "caption": "unggah"},
            files={"photo": ("p.png", png(640, 480), "image/png")},
        )
    )
    largest = uploaded["photo"][-1]
    assert (largest["width"], largest["height"]) == (640, 480)
    assert uploaded["photo"][0]["width"] == 90
    again = ok(
        await client.post(
            f"{tg}/sendPhoto", json={"chat_id": "@kanal", "photo": largest["file_id"]}
        )
    )
    assert again["photo"][-1]["file_id"] == largest["file_id"]
    assert "caption" not in again
    err(
        await client.post(f"{tg}/sendPhoto", json={"chat_id": "@kanal"}),
        400,
        "Bad Request: there is no photo in the request",
    )
    err(
        await client.post(f"{tg}/sendPhoto", json={"chat_id": "@kanal", "photo": "bogus"}),
        400,
        "Bad Request: wrong file identifier/HTTP URL specified",
    )
    err(
        await client.post(
            f"{tg}/sendPhoto",
            json={"chat_id": "@kanal", "photo": "https://x.example/p.jpg", "caption": "c" * 1025},
        ),
        400,
        "Bad Request: message caption is too long",
    )
    posts = (await client.get("/_sandbox/posts")).json()["posts"]
    assert [p["text"] for p in posts] == ["<i>Poster</i>", "unggah", ""]
    assert posts[0]["media"][0] == {
        "type": "photo",
        "file_id": by_url["photo"][-1]["file_id"],
        "source": "url",
        "url": "https://cdn.example.id/poster.jpg",
    }


async def test_send_video(client, tg, mp4):
    m = ok(
        await client.post(
            f"{tg}/sendVideo",
            data={
                "chat_id": "@kanal",
                "caption": "klip",
                "duration": "12",
                "width": "1920",
                "height": "1080",
            },
            files={"video": ("klip.mp4", mp4, "video/mp4")},
        )
    )
    video = m["video"]
    assert video["mime_type"] == "video/mp4" and video["file_name"] == "klip.mp4"
    assert (video["duration"], video["width"], video["height"]) == (12, 1920, 1080)
    assert video["file_size"] == len(mp4) and "thumbnail" in video
    err(
        await client.post(f"{tg}/sendPhoto", json={"chat_id": "@kanal", "photo": video["file_id"]}),
        400,
        "Bad Request: can't use file of type Video as Photo",
    )


async def test_send_media_group(client, tg, png):
    first = ok(
        await client.post(
            f"{tg}/sendPhoto", json={"chat_id": "@kanal", "photo": "https://x.example/a.jpg"}
        )
    )
    media = [
        {
            "type": "photo",
            "media": "https://x.example/b.jpg",
            "caption": "<b>Album</b>",
            "parse_mode": "HTML",
        },
        {"type": "photo", "media": "attach://gambar"},
        {"type": "photo", "media": first["photo"][-1]["file_id"]},
    ]
    messages = ok(
        await client.post(
            f"{tg}/sendMediaGroup",
            data={"chat_id": "@kanal", "media": json.dumps(media)},
            files={"gambar": ("g.png", png(), "image/png")},
        )
    )
    assert [m["message_id"] for m in messages] == [2, 3, 4]
    assert len({m["media_group_id"] for m in messages}) == 1
    assert messages[0]["caption"] == "Album" and "caption" not in messages[1]
    posts = (await client.get("/_sandbox/posts")).json()["posts"]
    assert len(posts) == 2 and len(posts[1]["media"]) == 3 and posts[1]["id"] == "2"
    as_json = ok(
        await client.post(
            f"{tg}/sendMediaGroup", json={"chat_id": "@kanal", "media": media[:1] + media[2:]}
        )
    )
    assert len(as_json) == 2

    group = f"{tg}/sendMediaGroup"
    err(
        await client.post(group, json={"chat_id": "@kanal"}),
        400,
        'Bad Request: parameter "media" is required',
    )
    err(
        await client.post(group, json={"chat_id": "@kanal", "media": []}),
        400,
        "Bad Request: there are no messages to send",
    )
    err(
        await client.post(group, json={"chat_id": "@kanal", "media": [media[0]] * 11}),
        400,
        "Bad Request: too many messages to send as an album",
    )
    err(
        await client.post(group, data={"chat_id": "@kanal", "media": "[not json"}),
        400,
        "Bad Request: can't parse media JSON object",
    )
    err(
        await client.post(
            group,
            json={
                "chat_id": "@kanal",
                "media": [{"type": "animation", "media": "https://x.example/a.gif"}],
            },
        ),
        400,
        "Bad Request: can't parse InputMedia: type \"animation\" can't be used in sendMediaGroup",
    )
    err(
        await client.post(
            group,
            json={"chat_id": "@kanal", "media": [media[0], {"type": "photo", "media": "bad"}]},
        ),
        400,
        'Bad Request: failed to send message #2 with the error message "Wrong file identifier/HTTP URL specified"',
    )


async def test_get_chat_and_member_count(client, tg):
    chat = ok(await client.get(f"{tg}/getChat", params={"chat_id": "@perpuskota"}))
    assert chat["type"] == "channel" and chat["username"] == "perpuskota"
    assert chat["active_usernames"] == ["perpuskota"]
    count = ok(await client.post(f"{tg}/getChatMemberCount", json={"chat_id": "@perpuskota"}))
    assert isinstance(count, int) and count == ok(
        await client.get(f"{tg}/getChatMemberCount?chat_id=@perpuskota")
    )
    err(
        await client.get(f"{tg}/getChat", params={"chat_id": "@notfound_x"}),
        400,
        "Bad Request: chat not found",
    )


async def test_get_chat_member_tells_where_the_bot_may_post(client, tg):
    me = ok(await client.get(f"{tg}/getMe"))

    async def member(chat_id, user_id=me["id"]) -> dict:
        return ok(await client.post(f"{tg}/getChatMember", json={"chat_id": chat_id, "user_id": user_id}))

    admin = await member("@perpustakaan_demo")  # the demo channel of `make run`
    assert admin["status"] == "administrator" and admin["user"] == {
        "id": me["id"], "is_bot": True, "first_name": me["first_name"], "username": me["username"]}
    assert admin["can_post_messages"] is True and admin["can_edit_messages"] is True
    assert admin["can_be_edited"] is False and admin["is_anonymous"] is False and "can_pin_messages" not in admin
    by_id = ok(await client.get(f"{tg}/getChatMember", params={"chat_id": -1001234567890, "user_id": me["id"]}))
    assert by_id["status"] == "administrator" and by_id["can_post_messages"] is True
    assert await member("@notmember_kanal") == {"user": admin["user"], "status": "left"}
    assert await member("@noadmin_kanal") == {"user": admin["user"], "status": "member"}
    no_post = await member("@nopost_kanal")
    assert no_post["status"] == "administrator" and no_post["can_post_messages"] is False
    assert (await member(-4242))["status"] == "member"  # a group: bots post as members
    assert await member(5550001, 5550001) == {
        "user": {"id": 5550001, "is_bot": False, "first_name": "Sandbox user"}, "status": "member"}
    err(await client.post(f"{tg}/getChatMember", json={"chat_id": "@perpuskota", "user_id": 777}),
        400, "Bad Request: user not found")  # fmt: skip
    err(await client.post(f"{tg}/getChatMember", json={"chat_id": "@perpuskota"}),
        400, "Bad Request: invalid user_id specified")  # fmt: skip
    err(await client.post(f"{tg}/getChatMember", json={"chat_id": "@notfound_x", "user_id": me["id"]}),
        400, "Bad Request: chat not found")  # fmt: skip


async def test_flood_limit_per_chat(client, tg):
    r = await client.put(
        "/_sandbox/limits", json={"platform": "telegram", "limit": 2, "window_seconds": 60}
    )
    assert r.status_code == 200
    send = f"{tg}/sendMessage"
    ok(await client.post(send, json={"chat_id": "@kanal", "text": "1"}))
    ok(await client.post(send, json={"chat_id": "@kanal", "text": "2"}))
    r = await client.post(send, json={"chat_id": "@kanal", "text": "3"})
    assert r.status_code == 429
    body = r.json()
    retry_after = body["parameters"]["retry_after"]
    assert 1 <= retry_after <= 60
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }
    assert r.headers["retry-after"] == str(retry_after)
    ok(await client.post(send, json={"chat_id": "@kanal_lain", "text": "other chat"}))
    assert (await client.get("/_sandbox/posts")).json()["count"] == 3


async def test_explicit_entities_replace_parse_mode(client, tg):
    m = ok(
        await client.post(
            f"{tg}/sendMessage",
            json={
                "chat_id": "@kanal",
                "text": "Tebal dan *bintang* di https://example.com",
                "parse_mode": "MarkdownV2",
                "entities": [{"type": "bold", "offset": 0, "length": 5}],
            },
        )
    )
    assert m["text"] == "Tebal dan *bintang* di https://example.com"
    assert m["entities"] == [
        {"type": "bold", "offset": 0, "length": 5},
        {"offset": 23, "length": 19, "type": "url"},
    ]
