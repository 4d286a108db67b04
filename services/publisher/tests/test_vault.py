"""The credentials vault: what is sealed opens again, only with its key, and opening the same
sealed credentials again costs no decryption."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from siar_publisher.vault import Vault


def test_sealed_credentials_open_again_as_a_fresh_dict_each_time():
    vault = Vault(Fernet.generate_key().decode())
    sealed = vault.seal({"access_token": "t-1", "scopes": ["write"]})
    assert b"t-1" not in sealed
    first = vault.open(sealed)
    first["access_token"] = "changed by a caller"
    first["scopes"].append("read")
    assert vault.open(memoryview(sealed)) == {"access_token": "t-1", "scopes": ["write"]}


def test_opening_the_same_credentials_again_does_not_decrypt_again():
    vault = Vault(Fernet.generate_key().decode())
    a, b = vault.seal({"access_token": "a"}), vault.seal({"access_token": "b"})
    for _ in range(3):
        assert vault.open(a)["access_token"] == "a"
    assert vault.open(b)["access_token"] == "b"
    info = vault._decrypt.cache_info()
    assert (info.hits, info.misses) == (2, 2)


def test_renewed_credentials_are_sealed_anew_and_open_to_the_new_values():
    vault = Vault(Fernet.generate_key().decode())
    old = vault.seal({"access_token": "old"})
    assert vault.open(old)["access_token"] == "old"
    assert vault.open(vault.seal({"access_token": "new"}))["access_token"] == "new"


def test_credentials_sealed_with_another_key_are_refused_every_time():
    sealed = Vault(Fernet.generate_key().decode()).seal({"access_token": "x"})
    vault = Vault(Fernet.generate_key().decode())
    for _ in range(2):  # a failure is not kept as if it were an answer
        with pytest.raises(ValueError, match="cannot be decrypted with SIAR_CREDENTIALS_KEY"):
            vault.open(sealed)


def test_a_key_that_is_not_a_fernet_key_is_refused_at_start():
    with pytest.raises(ValueError, match="not a Fernet key"):
        Vault("not-a-key")
