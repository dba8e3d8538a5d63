"""The ``matrix:`` config section."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, HttpUrl, SecretStr, model_validator

from bridges.configbase import Section
from bridges.matrix.bot_config import BotConfig

_LOCALPART = r"[a-z0-9._=/+-]+"


class AppserviceConfig(Section):
    """The application-service registration porch runs under."""

    id: str = Field(min_length=1)
    #: Where the homeserver reaches porch.
    url: HttpUrl
    as_token: SecretStr = Field(min_length=16)
    hs_token: SecretStr = Field(min_length=16)
    bot_localpart: str = Field(default="porch", pattern=f"^{_LOCALPART}$")
    #: Forum user alice becomes ``@<ghost_prefix>alice:<server_name>``.
    ghost_prefix: str = Field(default="forum_", pattern=f"^{_LOCALPART}$")
    #: Display name template for ghosts; ``{name}`` and ``{username}`` are filled in.
    ghost_displayname: str = "{name} (forum)"

    @model_validator(mode="after")
    def _tokens_differ(self) -> AppserviceConfig:
        if self.as_token.get_secret_value() == self.hs_token.get_secret_value():
            raise ValueError("as_token and hs_token must differ")
        return self


class MatrixConfig(Section):
    """How porch reaches the homeserver."""

    homeserver: HttpUrl
    server_name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    mode: Literal["appservice", "bot"] = "appservice"
    appservice: AppserviceConfig | None = None
    #: Porch's own account, for ``mode: bot`` (:mod:`bridges.matrix.bot_config`).
    bot: BotConfig | None = None
    #: Seconds to wait for any one homeserver call.
    timeout: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _mode_needs_section(self) -> MatrixConfig:
        if self.mode == "appservice" and self.appservice is None:
            raise ValueError("mode 'appservice' needs an 'appservice' section")
        if self.mode == "bot" and self.bot is None:
            raise ValueError("mode 'bot' needs a 'bot' section (porch's Matrix account)")
        return self

    @property
    def base_url(self) -> str:
        return str(self.homeserver).rstrip("/")

    def ghost_regex(self) -> str:
        """The exclusive user namespace of porch's ghosts, anchored at both ends."""
        assert self.appservice is not None
        prefix = re.escape(self.appservice.ghost_prefix)
        return f"^@{prefix}.*:{re.escape(self.server_name)}$"
