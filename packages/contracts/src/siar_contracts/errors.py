"""The machine-readable error classes carried by post.failed and post.retrying.

They follow the cross-platform taxonomy in shared/platforms.md; each has a different remedy."""

from enum import StrEnum


class ErrorClass(StrEnum):
    RATE_LIMITED = "rate_limited"
    """The platform asked us to slow down; retried after the time it gave."""
    QUOTA_EXHAUSTED = "quota_exhausted"
    """A daily or rolling quota is used up; retried when the window opens again."""
    TRANSIENT = "transient"
    """A 5xx, a dropped connection or a timeout before the request was sent; retried with backoff."""
    AUTH_EXPIRED = "auth_expired"
    """The access token expired; refreshed once and retried."""
    AUTH_REVOKED = "auth_revoked"
    """The account must be connected again by a person."""
    PERMISSION_DENIED = "permission_denied"
    """The account may not post there (not a channel member, missing scope)."""
    INVALID_CONTENT = "invalid_content"
    """The platform refused the content itself; retrying cannot help."""
    DUPLICATE = "duplicate"
    """The platform says this is a duplicate; it may already be live."""
    POLICY_REJECTED = "policy_rejected"
    """Refused by the platform's spam or content policy."""
    OUTCOME_UNKNOWN = "outcome_unknown"
    """The request may or may not have taken effect and the platform offers no way to check."""
    TARGET_GONE = "target_gone"
    """The channel, page or chat no longer exists."""
    NOT_APPROVED = "not_approved"
    """The post was not approved before its time (scheduler)."""
    INTERNAL = "internal"
    """A fault inside Siar; the details are in the logs under the correlation id."""

    @property
    def retryable(self) -> bool:
        return self in {
            ErrorClass.RATE_LIMITED,
            ErrorClass.QUOTA_EXHAUSTED,
            ErrorClass.TRANSIENT,
            ErrorClass.AUTH_EXPIRED,
        }
