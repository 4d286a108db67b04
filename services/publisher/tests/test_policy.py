from datetime import UTC, datetime, timedelta

import httpx
import pytest
from siar_publisher.adapters.base import retry_after
from siar_publisher.delivery import backoff
from siar_publisher.vault import Vault


def close(a: datetime, b: datetime, seconds: float = 2) -> bool:
    return abs((a - b).total_seconds()) < seconds


def test_retry_after_prefers_the_header_then_the_body_then_reset_headers():
    now = datetime.now(UTC)
    assert close(retry_after(httpx.Headers({"Retry-After": "30", "X-RateLimit-Reset": "2099-01-01T00:00:00Z"}), 5),
                 now + timedelta(seconds=30))
    assert close(retry_after(httpx.Headers({}), 34), now + timedelta(seconds=34))
    epoch = int((now + timedelta(seconds=90)).timestamp())
    assert close(retry_after(httpx.Headers({"x-rate-limit-reset": str(epoch)})), now + timedelta(seconds=90))
    assert retry_after(httpx.Headers({"X-RateLimit-Reset": "2030-01-01T00:00:00.000Z"})) == datetime(2030, 1, 1, tzinfo=UTC)
    assert close(retry_after(httpx.Headers({"RateLimit-Reset": "12"})), now + timedelta(seconds=12))
    assert close(retry_after(httpx.Headers({"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})),
                 datetime(2099, 10, 21, 7, 28, tzinfo=UTC))
    assert retry_after(httpx.Headers({})) is None


@pytest.mark.parametrize("attempt", range(1, 12))
def test_backoff_grows_exponentially_with_jitter_and_a_cap(attempt):
    for _ in range(50):
        delay = backoff(attempt, 2.0, 300.0)
        assert 1.0 <= delay <= min(300.0, 2.0 * 2 ** (attempt - 1))


def test_credentials_are_sealed_and_never_readable_without_the_key():
    from cryptography.fernet import Fernet

    vault = Vault(Fernet.generate_key().decode())
    sealed = vault.seal({"access_token": "very-secret"})
    assert b"very-secret" not in sealed
    assert vault.open(sealed) == {"access_token": "very-secret"}
    with pytest.raises(ValueError, match="cannot be decrypted"):
        Vault(Fernet.generate_key().decode()).open(sealed)
    with pytest.raises(ValueError, match="Fernet"):
        Vault("not-a-key")
