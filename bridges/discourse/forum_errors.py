"""What can go wrong when porch talks to the forum, sorted by what the caller should do.

- :class:`ForumRateLimited`: try again after ``retry_after`` seconds (never slept on here).
- :class:`ForumUnavailable`: transient (no connection, timeout, 5xx, read-only mode); retry.
- :class:`ForumRejected`: permanent; the forum said no (4xx other than 429) and said why.
  :class:`ForumAuthError` (403: bad key or user, or not allowed), :class:`ForumNotFound`,
  :class:`ForumRefusedURL`, :class:`ForumNotAnImage` and :class:`ForumTooLarge` are kinds of it.

Messages never contain the API key: they are built from the status, the path and the forum's
own error messages only.
"""

from __future__ import annotations

from collections.abc import Sequence


class ForumError(Exception):
    """Base of every forum failure. ``status`` is the HTTP status, None without a response."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ForumRateLimited(ForumError):
    """HTTP 429. ``retry_after``: seconds the forum asked us to wait (``Retry-After`` or
    ``extras.wait_seconds``); ``limit`` the ``Discourse-Rate-Limit-Error-Code``, if sent."""

    def __init__(self, retry_after: float, *, limit: str | None = None, message: str = "") -> None:
        text = message or f"the forum rate-limited porch; retry after {retry_after:g}s"
        if limit:
            text += f" (limit {limit})"
        super().__init__(text, status=429)
        self.retry_after = retry_after
        self.limit = limit


class ForumUnavailable(ForumError):
    """Transient: connection refused or reset, timeout, 5xx, or 503 read-only mode.

    ``error_type`` is ``"read_only"`` when the forum is in read-only mode. ``unreachable``: no
    answer at all (refused, reset, timed out), so the trouble is the forum's, not the request's.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message, status=status)
        self.error_type = error_type
        self.unreachable = unreachable


class ForumRejected(ForumError):
    """Permanent: the forum refused the request (4xx other than 429).

    ``messages`` are the forum's ``errors`` (e.g. "Body is too short (minimum is 20
    characters)"); ``error_type`` its ``error_type`` when it sent one (``invalid_access``,
    ``not_found``, ``invalid_parameters`` ...).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        messages: Sequence[str] = (),
        error_type: str | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.messages = tuple(messages)
        self.error_type = error_type


class ForumAuthError(ForumRejected):
    """403: the API key or username is invalid, or that user may not do this.

    Discourse answers both with ``error_type: invalid_access``; a key problem shows on every
    call, a permission problem only on some.
    """


class ForumNotFound(ForumRejected):
    """404: no such post, topic, category or user (or it is deleted)."""


class ForumRefusedURL(ForumRejected):
    """A download was asked for a URL that is not one of the forum's file routes (another
    host, or a path such as ``/admin/...``; :mod:`bridges.discourse.media_paths`)."""


class ForumNotAnImage(ForumRejected):
    """A download that must be an image was answered with another content type."""


class ForumTooLarge(ForumRejected):
    """A download was larger than the caller allowed."""
