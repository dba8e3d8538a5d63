"""What every end-to-end test starts from: a linked room and a porch serving it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.rig.matrix import ChatUser
from tests.rig.porch import PorchProcess

BOT = "@porch:localhost"


@dataclass
class Linked:
    """A room linked to the forum's ``town-square`` category, and its member ``dana``."""

    room: str
    dana: ChatUser
    porch: PorchProcess


@pytest.fixture
def linked(
    porch_factory: Callable[..., PorchProcess],
    matrix_user_factory: Callable[..., ChatUser],
) -> Callable[..., Linked]:
    """``linked(direction="both", start=True, **link)``: a fresh room, linked, porch running."""

    def make(start: bool = True, store_url: str | None = None, **link: Any) -> Linked:
        dana = matrix_user_factory()
        room = dana.create_room(name="Town square", preset="public_chat")
        dana.invite(room, BOT)
        spec = {"name": "town", "forum": {"category": "town-square"}, "room": room, **link}
        porch = porch_factory(links=[spec], store_url=store_url)
        if start:
            porch.start()
        return Linked(room, dana, porch)

    return make


def is_text(contains: str) -> Callable[[dict[str, Any]], bool]:
    def match(event: dict[str, Any]) -> bool:
        return event.get("type") == "m.room.message" and contains in str(
            event.get("content", {}).get("body", "")
        )

    return match
