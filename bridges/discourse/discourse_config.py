"""The ``discourse:`` config section."""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr, field_validator

from bridges.configbase import Section


class DiscourseConfig(Section):
    """How porch reaches the forum and recognises its webhooks."""

    url: HttpUrl
    #: An admin key for "all users": porch posts as mapped users.
    api_key: SecretStr = Field(min_length=1)
    #: Porch's own forum account, for its own actions.
    api_username: str = Field(min_length=1)
    #: A non-staff account that posts for chat users without a linked forum account.
    relay_username: str = Field(min_length=1)
    #: Discourse requires at least 12 characters for a webhook secret.
    webhook_secret: SecretStr = Field(min_length=12)
    #: Seconds to wait for any one forum API call.
    timeout: float = Field(default=15.0, gt=0)
    #: Largest webhook body accepted, in bytes.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    #: The URL the forum posts its webhooks to (``porch setup discourse`` sets it on the forum);
    #: by default ``matrix.appservice.url`` + ``/discourse/webhook``.
    webhook_url: HttpUrl | None = None
    #: The DiscourseConnect provider secret porch shares with the forum (its
    #: ``discourse_connect_provider_secrets`` entry for porch's domain); without it ``!link``
    #: answers that linking is not enabled.
    connect_secret: SecretStr | None = Field(default=None, min_length=10)

    @field_validator("url")
    @classmethod
    def _no_path(cls, url: HttpUrl) -> HttpUrl:
        if url.path not in (None, "", "/"):
            raise ValueError("must be the forum's base URL, without a path")
        return url

    @field_validator("webhook_url")
    @classmethod
    def _webhook_path(cls, url: HttpUrl | None) -> HttpUrl | None:
        if url is not None and (url.query or url.fragment):
            raise ValueError("must be a plain URL, without a query or a fragment")
        return url

    @property
    def base_url(self) -> str:
        """The forum URL without a trailing slash."""
        return str(self.url).rstrip("/")
