"""The base every config section derives from (Synapse's ``ParseModel`` recipe)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section: immutable, and unknown keys are errors (a typo must not pass silently).

    Not ``strict``: YAML gives ``8090`` and ``"8090"`` alike, and admins expect both to work.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
