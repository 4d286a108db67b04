"""The demo accounts a fresh local Siar starts with, on the sandbox."""

from __future__ import annotations

import time

import httpx

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
