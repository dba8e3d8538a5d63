"""The ``matrix.bot:`` config section: porch as a normal Matrix account (``matrix.mode: bot``).

For admins who cannot register an application service (a hosted homeserver): porch logs in as
one ordinary user, follows its rooms with ``/sync`` and sends everything as that user.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from bridges.configbase import Section


class BotConfig(Section):
    """The account porch logs in as, and how it follows its rooms."""

    #: The full user id of porch's account: ``@porch:example.org``.
    user_id: str = Field(pattern=r"^@[^:\s]+:[A-Za-z0-9.:\[\]-]+$")
    #: Log in with this password (``${VAR}`` in the file); the access token the homeserver
    #: hands out is kept in porch's store, so a restart does not log in again.
    password: SecretStr | None = None
    #: Or use this access token as it is (no login at all).
    access_token: SecretStr | None = None
    #: The device porch logs in as; kept across restarts so the account gains no devices.
    device_id: str = Field(default="PORCH", min_length=1, pattern=r"^[A-Za-z0-9._=-]+$")
    #: The line naming a forum post's author in front of its copy (markdown): ``{name}``,
    #: ``{username}`` and ``{profile_url}`` (the author's page on the forum).
    author_template: str = "**{name}** (forum):"
    #: Seconds one ``/sync`` long poll waits for news.
    sync_timeout: float = Field(default=30.0, gt=0, le=300)
    #: Events per room one sync returns at most; a longer gap is fetched with ``/messages``.
    timeline_limit: int = Field(default=100, ge=1, le=1000)
    #: Failed syncs in a row before porch gives up following its rooms (readiness turns false).
    max_sync_failures: int = Field(default=8, ge=1)

    @field_validator("author_template")
    @classmethod
    def _known_fields(cls, template: str) -> str:
        try:
            template.format(name="x", username="x", profile_url="https://forum/u/x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                "may use {name}, {username} and {profile_url} only "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        return template

    @model_validator(mode="after")
    def _one_credential(self) -> BotConfig:
        if self.password is None and self.access_token is None:
            raise ValueError("needs a 'password' or an 'access_token' for porch's account")
        return self
