"""Credentials encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256)."""

from __future__ import annotations

import functools
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

OPENED_KEPT = 1024
"""Sealed credentials whose plaintext is kept, most recently used first. Each attempt opens its
account's credentials, and Fernet (an HMAC check and AES) was ~3 % of the publisher's CPU per post
in a burst; the process holds the key anyway, so the kept plaintext exposes nothing new. The key
is the ciphertext: renewed or replaced credentials are sealed anew and miss."""


class Vault:
    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError as exc:
            raise ValueError("SIAR_CREDENTIALS_KEY is not a Fernet key (32 url-safe base64 bytes)") from exc
        self._decrypt = functools.lru_cache(maxsize=OPENED_KEPT)(self._fernet.decrypt)

    def seal(self, credentials: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(credentials).encode())

    def open(self, sealed: bytes) -> dict[str, Any]:
        """A fresh dict on every call: a caller may change what it got without touching the kept copy."""
        try:
            return json.loads(self._decrypt(bytes(sealed)))
        except InvalidToken as exc:
            raise ValueError("credentials cannot be decrypted with SIAR_CREDENTIALS_KEY") from exc
