"""What every service's settings refuse in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from siar_runtime.settings import ServiceSettings


@pytest.mark.parametrize(("field", "url", "variable"), [
    ("database_url", "postgresql://siar:siar-dev-postgres-password@postgres:5432/siar", "POSTGRES_PASSWORD"),
    ("amqp_url", "amqp://siar:siar-dev-rabbitmq-password@rabbitmq:5672/", "RABBITMQ_PASSWORD"),
])
def test_the_example_passwords_are_refused_in_production_only(field, url, variable):
    # The docs said production refuses .env.example's values; only the services' own secrets were.
    with pytest.raises(ValidationError, match=f"example password of .env.example.*real {variable}"):
        ServiceSettings(environment="production", **{field: url})
    assert getattr(ServiceSettings(environment="development", **{field: url}), field) == url
    ServiceSettings(environment="production", **{field: url.replace("siar-dev-", "k7")})


def test_production_refuses_development_and_short_api_tokens():
    from siar_runtime.auth import check_production_tokens

    with pytest.raises(ValueError, match="development token"):
        check_production_tokens({"siar-dev-token": "admin"})
    # An actor id shows a token's first 4 characters and 32 bits of its hash to every role: the
    # rest of a short token could be found by trying.
    with pytest.raises(ValueError, match=r"at least 24 characters.*perp…"):
        check_production_tokens({"perpus-2026": "admin", "e" * 48: "editor"})
    check_production_tokens({"e" * 48: "editor", "r" * 24: "reviewer"})
