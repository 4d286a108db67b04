"""The demo a fresh Siar starts with: two accounts on the sandbox and a few posts going out.

``python -m siar_devstack.demo`` is the one-shot ``demo`` service of compose.yaml; it reads the
services' addresses and ``SIAR_API_TOKENS`` (the first admin token) from the environment and can
run any number of times: accounts are upserts and posts carry an ``Idempotency-Key``."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_MASTODON_TOKEN = "perpustakaan.demo-token"
DEMO_TELEGRAM_TOKEN = "123456789:AAHdemoSiarSandboxBotTokenForLocal01"
DEMO_TELEGRAM_CHAT = "@perpustakaan_demo"


def register_demo_accounts(publisher_url: str, sandbox_url: str, api_token: str) -> list[dict]:
    headers = {"Authorization": f"Bearer {api_token}"}
    bodies = [
        {
            "platform": "mastodon",
            "base_url": f"{sandbox_url}/mastodon",
            "credentials": {"access_token": DEMO_MASTODON_TOKEN},
        },
        {
            "platform": "telegram",
            "base_url": f"{sandbox_url}/telegram",
            "credentials": {"bot_token": DEMO_TELEGRAM_TOKEN},
            "settings": {"chat_id": DEMO_TELEGRAM_CHAT},
        },
    ]
    accounts = []
    for body in bodies:
        response = httpx.post(f"{publisher_url}/v1/accounts", json=body, headers=headers, timeout=10)
        response.raise_for_status()
        accounts.append(response.json())
    return accounts


def wait_for_accounts(scheduler_url: str, api_token: str, account_ids: list[str], timeout: float = 15) -> None:
    """The scheduler learns of accounts through events; wait until it knows them all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{scheduler_url}/v1/accounts", headers={"Authorization": f"Bearer {api_token}"})
        known = {a["account_id"] for a in response.json()["accounts"]} if response.status_code == 200 else set()
        if set(account_ids) <= known:
            return
        time.sleep(0.1)
    raise TimeoutError("the scheduler did not learn of the demo accounts")


DEMO_SURVEY_SLUG = "survei-pemustaka"


def create_demo_survey(feedback_url: str, api_token: str, accounts: list[dict] | None = None) -> dict:
    """The demo patron survey, open, with one link per channel and its opening announced on the
    demo accounts (survey.opened). A second run finds the survey the first one made."""
    headers = {"Authorization": f"Bearer {api_token}"}
    found = httpx.get(f"{feedback_url}/v1/surveys/{DEMO_SURVEY_SLUG}", headers=headers, timeout=10)
    if found.status_code == 200:
        survey = found.json()
    else:
        response = httpx.post(f"{feedback_url}/v1/surveys", headers=headers, timeout=10, json={
            "slug": DEMO_SURVEY_SLUG,
            "title": {"id": "Survei Kepuasan Pemustaka", "en": "Library Patron Survey"},
            "intro": {"id": "Dua menit saja: bantu kami menjadi perpustakaan yang lebih baik.",
                      "en": "Two minutes: help us become a better library."},
            "channels": ["instagram", "telegram", "mastodon", "poster"],
            "one_response_per_patron": True,
            "announce": [{"platform": a["platform"], "account_id": a["account_id"]} for a in accounts or []],
            "questions": [
                {"key": "kepuasan", "kind": "rating", "required": True,
                 "text": {"id": "Seberapa puas Anda dengan layanan perpustakaan?",
                          "en": "How satisfied are you with the library's service?"}},
                {"key": "rekomendasi", "kind": "nps", "required": True,
                 "text": {"id": "Seberapa mungkin Anda merekomendasikan perpustakaan kepada teman?",
                          "en": "How likely are you to recommend the library to a friend?"}},
                {"key": "kegiatan", "kind": "multiple_choice",
                 "text": {"id": "Kegiatan apa yang ingin Anda ikuti?", "en": "Which activities would you join?"},
                 "options": [
                     {"key": "dongeng", "label": {"id": "Dongeng anak", "en": "Children's storytelling"}},
                     {"key": "klub_buku", "label": {"id": "Klub buku", "en": "Book club"}},
                     {"key": "literasi_digital", "label": {"id": "Pelatihan literasi digital",
                                                           "en": "Digital literacy class"}},
                 ]},
                {"key": "saran", "kind": "text",
                 "text": {"id": "Apa saran Anda untuk kami?", "en": "What would you suggest?"}},
            ],
        })
        response.raise_for_status()
        survey = response.json()
    if survey["status"] != "open":
        response = httpx.post(f"{feedback_url}/v1/surveys/{survey['survey_id']}/open", headers=headers, timeout=10)
        response.raise_for_status()
        survey = response.json()
    return survey


DEMO_POSTS = (
    # (seconds from now, platforms, text)
    (20, ("mastodon", "telegram"), "Selamat datang di Siar! Postingan pertama dari perpustakaan. #PerpustakaanKita"),
    (60, ("mastodon",), "Pameran buku anak Sabtu ini pukul 09.00 WIB. Ajak keluarga! #PalembangBaca"),
    (180, ("telegram",), "Jam buka minggu ini: Senin-Jumat 08.00-16.00, Sabtu 09.00-13.00."),
)


class DemoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIAR_", extra="ignore")

    scheduler_url: str = "http://127.0.0.1:8001"
    publisher_url: str = "http://127.0.0.1:8002"
    sandbox_url: str = "http://127.0.0.1:8010"
    feedback_url: str | None = "http://127.0.0.1:8004"  # empty: no demo survey
    api_tokens: str = "siar-dev-token:admin"
    ready_timeout_seconds: float = 120
    demo_delay_seconds: float = 0  # added to every demo post's time (tests push them out of the way)

    @property
    def admin_token(self) -> str:
        from siar_runtime.auth import parse_tokens

        admins = [token for token, role in parse_tokens(self.api_tokens).items() if role == "admin"]
        if not admins:
            raise SystemExit("SIAR_API_TOKENS holds no admin token; the demo needs one to connect accounts")
        return admins[0]


def wait_ready(urls: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} is not ready after {timeout:.0f} s")
            time.sleep(0.5)


def schedule_demo_posts(scheduler_url: str, api_token: str, accounts: list[dict], delay: float = 0) -> list[dict]:
    """A few posts over the next minutes; the same keys make a second run change nothing."""
    by_platform = {a["platform"]: a["account_id"] for a in accounts}
    now = datetime.now(UTC) + timedelta(seconds=delay)
    posts = []
    for number, (seconds, platforms, text) in enumerate(DEMO_POSTS, start=1):
        response = httpx.post(
            f"{scheduler_url}/v1/posts",
            json={
                "text": text,
                "targets": [by_platform[p] for p in platforms],
                "scheduled_at": (now + timedelta(seconds=seconds)).isoformat(),
            },
            headers={"Authorization": f"Bearer {api_token}", "Idempotency-Key": f"siar-demo-post-{number}"},
            timeout=10,
        )
        response.raise_for_status()
        posts.append(response.json())
    return posts


def main() -> None:
    settings = DemoSettings()
    token = settings.admin_token
    try:
        wait_ready([settings.sandbox_url, settings.publisher_url, settings.scheduler_url],
                   settings.ready_timeout_seconds)
        accounts = register_demo_accounts(settings.publisher_url, settings.sandbox_url, token)
        wait_for_accounts(settings.scheduler_url, token, [a["account_id"] for a in accounts], timeout=60)
        posts = schedule_demo_posts(settings.scheduler_url, token, accounts, settings.demo_delay_seconds)
        survey = None
        if settings.feedback_url:
            wait_ready([settings.feedback_url], settings.ready_timeout_seconds)
            survey = create_demo_survey(settings.feedback_url, token, accounts)
    except (httpx.HTTPError, TimeoutError) as exc:
        sys.exit(f"demo: {exc}")
    print("demo accounts on the sandbox:")
    for a in accounts:
        print(f"  {a['platform']:<9} {a['handle']:<24} {a['account_id']}")
    print("demo posts:")
    for post in posts:
        print(f"  {post['scheduled_at']}  {post['status']:<10} {post['text'][:60]}")
    if survey is not None:
        print("demo survey (one link per channel):")
        for link in survey["links"]:
            print(f"  {link['channel']:<9} {link['url']}")
    print(f"what the platforms received: {settings.sandbox_url}/_sandbox/posts", flush=True)


if __name__ == "__main__":
    main()
