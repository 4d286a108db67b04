"""A service whose settings are wrong says which, in one JSON line, and shows no secret."""

from __future__ import annotations

import json

import pytest
from pydantic import model_validator
from siar_runtime.settings import ServiceSettings, load_settings


class PublisherSettings(ServiceSettings):
    """A service's settings with a secret and a rule of its own, as the services have."""

    credentials_key: str = ""

    @model_validator(mode="after")
    def _key_needed(self) -> PublisherSettings:
        if self.environment == "production" and len(self.credentials_key) < 80:
            raise ValueError("SIAR_CREDENTIALS_KEY is too short")
        return self


def test_wrong_settings_name_the_variables_and_show_no_secret(monkeypatch, capsys):
    secret = "k" * 40 + "SECRETEND="
    monkeypatch.setenv("SIAR_ENVIRONMENT", "production")
    monkeypatch.setenv("SIAR_CREDENTIALS_KEY", secret)
    monkeypatch.setenv("SIAR_DB_POOL_MIN", "none")
    with pytest.raises(SystemExit) as stopped:
        load_settings(PublisherSettings, "publisher")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "SECRETEND" not in err and "kkkk" not in err
    line = json.loads(err)
    assert line["service"] == "publisher" and line["level"] == "error"
    assert any(p.startswith("SIAR_DB_POOL_MIN: ") for p in line["problems"]), line


def test_a_rule_of_the_whole_settings_is_named_by_its_message(monkeypatch, capsys):
    monkeypatch.setenv("SIAR_ENVIRONMENT", "production")
    monkeypatch.setenv("SIAR_DATABASE_URL", "postgresql://siar:siar-dev-password-tail@db/siar")
    with pytest.raises(SystemExit):
        load_settings(PublisherSettings, "publisher")
    err = capsys.readouterr().err
    assert "password-tail" not in err
    assert any("example password" in p for p in json.loads(err)["problems"])
