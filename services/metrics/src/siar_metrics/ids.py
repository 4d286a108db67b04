"""Time-ordered UUIDs (version 7, RFC 9562): request ids that sort by creation time, so the
indexes that hold them (collections' primary key, the announcer's (txid, request_id)) grow at
their right edge instead of at random places."""

from __future__ import annotations

import os
import time
import uuid


def uuid7(at: float | None = None) -> uuid.UUID:
    millis = int((time.time() if at is None else at) * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | ((rand >> 64) & 0x0FFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)
