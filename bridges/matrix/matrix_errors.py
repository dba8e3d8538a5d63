"""What can go wrong talking to the homeserver, sorted by what the caller should do about it.

- :class:`MatrixUnavailable`: transient (no connection, a timeout, a 5xx). Retry later.
- :class:`MatrixRateLimited`: the homeserver asked porch to slow down for ``retry_after`` seconds.
- :class:`MatrixError`: anything else the homeserver refused; ``errcode`` says why
  (https://spec.matrix.org/v1.13/client-server-api/#standard-error-response).

Messages name the call (``PUT /_matrix/client/v3/rooms/!r/send/...``) and never a token.
"""

from __future__ import annotations


class MatrixError(Exception):
    """The homeserver answered a call with an error, or could not be asked at all.

    Attributes:
        where: the method and path of the call (no query string, so no token can leak).
        status: the HTTP status, or ``None`` when no answer came back.
        errcode: the Matrix ``errcode`` (``M_FORBIDDEN`` ...), or ``None`` when there was none.
        message: the homeserver's ``error`` text, or a description of the failure.
    """

    def __init__(self, where: str, status: int | None, errcode: str | None, message: str) -> None:
        self.where = where
        self.status = status
        self.errcode = errcode
        self.message = message
        super().__init__(where, status, errcode, message)

    def __str__(self) -> str:
        parts = [str(self.status) if self.status is not None else "no answer"]
        if self.errcode:
            parts.append(self.errcode)
        return f"{self.where}: {' '.join(parts)}: {self.message}"


class MatrixUnavailable(MatrixError):
    """A transient failure: no connection, a timeout, or a 5xx answer. Worth retrying later."""


class MatrixRateLimited(MatrixError):
    """``M_LIMIT_EXCEEDED`` (HTTP 429) with a wait too long to sit out inside the call.

    ``retry_after`` is in seconds; the relay reschedules the delivery that far ahead.
    """

    def __init__(
        self,
        where: str,
        status: int | None,
        errcode: str | None,
        message: str,
        retry_after: float,
    ) -> None:
        super().__init__(where, status, errcode, message)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{super().__str__()} (retry after {self.retry_after:.1f}s)"


def is_errcode(exc: BaseException, *errcodes: str) -> bool:
    """Whether ``exc`` is a :class:`MatrixError` carrying one of ``errcodes``."""
    return isinstance(exc, MatrixError) and exc.errcode in errcodes
