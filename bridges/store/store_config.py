"""The ``store:`` config section."""

from __future__ import annotations

from pydantic import Field, field_validator

from bridges.configbase import Section
from bridges.store.retention import RetentionConfig


class StoreConfig(Section):
    """Where porch keeps its inbox, mappings, identities and audit log."""

    url: str = "sqlite:///porch.db"
    #: Connection pool size for PostgreSQL.
    pool_size: int = Field(default=5, gt=0)
    #: What the store forgets, and when (:mod:`bridges.store.retention`).
    retention: RetentionConfig = RetentionConfig()

    @field_validator("url")
    @classmethod
    def _known_backend(cls, url: str) -> str:
        scheme = url.split(":", 1)[0]
        if scheme == "postgres":
            raise ValueError("use 'postgresql://', not 'postgres://'")
        if not (scheme == "sqlite" or scheme.startswith("postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return url
