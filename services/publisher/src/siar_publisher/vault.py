"""Credentials encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256)."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class Vault:
    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError as exc:
            raise ValueError("SIAR_CREDENTIALS_KEY is not a Fernet key (32 url-safe base64 bytes)") from exc

    def seal(self, credentials: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(credentials).encode())

    def open(self, sealed: bytes) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(bytes(sealed)))
        except InvalidToken as exc:
            raise ValueError("credentials cannot be decrypted with SIAR_CREDENTIALS_KEY") from exc
