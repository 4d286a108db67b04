from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from siar_runtime.auth import check_production_tokens, parse_tokens
from siar_runtime.settings import ServiceSettings

from .clients import Network, parse_networks

DEV_TOKEN = "siar-dev-token"
DEV_SECRET = "siar-dev-feedback-secret-change-me"
PRIVATE_NETWORKS = "127.0.0.0/8, ::1, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7"
"""Where a reverse proxy in front of the page sits (Rails' ActionDispatch::RemoteIp trusts the same)."""


class FeedbackSettings(ServiceSettings):
    http_port: int = 8004
    api_tokens: str = Field(
        default=f"{DEV_TOKEN}:admin",
        description="Comma-separated token:role pairs (roles: editor, reviewer, admin)",
    )
    feedback_secret: str = Field(
        default=DEV_SECRET,
        min_length=16,
        description="Signs the patron cookie and the survey page's form tokens, keys the per-survey patron hash "
                    "and the client hash of the rate limit (SIAR_FEEDBACK_SECRET)",
    )
    survey_base_url: str = Field(
        default="http://127.0.0.1:8004",
        pattern=r"^https?://",
        description="Public address patrons reach the survey pages at; survey links start with it",
    )
    survey_trusted_proxies: str = Field(
        default=PRIVATE_NETWORKS,
        description="Reverse proxies in front of the survey page, as addresses or networks separated by commas "
                    "(10.0.0.0/8, 192.0.2.7): X-Forwarded-For is read only from these, from the right, and the "
                    "first address that is not one of them is the client. Default: loopback and private "
                    "networks (where a proxy or Docker's bridge sits); set the proxy's own address when patrons "
                    "connect directly from a private network. Empty: the socket's peer is the client",
    )
    survey_client_limit_per_minute: int = Field(
        default=10, ge=1, le=100_000,
        description="Responses the survey page accepts per minute from one client address (an IPv6 /64) per survey",
    )
    survey_form_min_seconds: float = Field(
        default=2.0, ge=0, le=60,
        description="A survey form sent sooner than this after the page was opened is refused (a script)",
    )
    survey_form_max_age_seconds: int = Field(
        default=24 * 3600, ge=60, le=7 * 24 * 3600,
        description="A survey form sent later than this after the page was opened is refused (reload the page)",
    )
    sweep_seconds: float = Field(default=5.0, gt=0, description="Safety sweep for opening and closing dates")
    metrics_refresh_seconds: float = Field(default=15.0, gt=0, description="How often the NPS gauges are recomputed")

    @field_validator("survey_trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> FeedbackSettings:
        tokens = parse_tokens(self.api_tokens)
        if self.environment == "production":
            check_production_tokens(tokens)
            if self.feedback_secret == DEV_SECRET:
                raise ValueError("SIAR_FEEDBACK_SECRET is the development secret; set a long random one")
            _public_address(self.survey_base_url)
        return self

    @property
    def tokens(self) -> dict[str, str]:
        return parse_tokens(self.api_tokens)

    @property
    def trusted_proxies(self) -> tuple[Network, ...]:
        return parse_networks(self.survey_trusted_proxies)

    @property
    def base_url(self) -> str:
        return self.survey_base_url.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.survey_base_url.startswith("https://")


def _public_address(url: str) -> None:
    """Survey links go out in posts on the library's public accounts: in production they must be
    an https address patrons can reach, never this machine's own (the default, 127.0.0.1)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = host == "localhost" or host.endswith(".localhost")
    if local:
        raise ValueError(f"SIAR_SURVEY_BASE_URL is {url}, this machine's own address: survey links in posts would "
                         "not open for patrons; set the public https address of the survey pages")
    if parts.scheme != "https":
        raise ValueError(f"SIAR_SURVEY_BASE_URL is {url}: patrons' answers would cross the internet unencrypted; "
                         "set the public https address of the survey pages (a TLS reverse proxy in front)")
