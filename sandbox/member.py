"""A Matrix member for the sandbox demo: logs in with a password and talks like a client would."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote

import requests


class SandboxMember:
    """A plain client-server API user (the demo's "person on their phone")."""

    def __init__(self, homeserver: str, user: str, password: str, timeout: float = 10.0) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        response = self.session.post(
            f"{self.homeserver}/_matrix/client/v3/login",
            json={
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user},
                "password": password,
            },
            timeout=timeout,
        )
        response.raise_for_status()
        body = response.json()
        self.user_id: str = body["user_id"]
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(
            method, f"{self.homeserver}/_matrix/client/v3{path}", timeout=self.timeout, **kwargs
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def set_displayname(self, name: str) -> None:
        self._call(
            "PUT", f"/profile/{quote(self.user_id)}/displayname", json={"displayname": name}
        )

    def join(self, room_id: str) -> None:
        self._call("POST", f"/join/{quote(room_id)}", json={})

    def send_text(self, room_id: str, body: str, thread_root: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if thread_root is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": True,
                "m.in_reply_to": {"event_id": thread_root},
            }
        txn = uuid.uuid4().hex
        path = f"/rooms/{quote(room_id)}/send/m.room.message/{txn}"
        return str(self._call("PUT", path, json=content)["event_id"])

    def messages(self, room_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The room's recent messages, oldest first."""
        body = self._call(
            "GET",
            f"/rooms/{quote(room_id)}/messages",
            params={"dir": "b", "limit": str(limit)},
        )
        events = [e for e in body.get("chunk", []) if e.get("type") == "m.room.message"]
        return list(reversed(events))

    def wait_for_message(
        self, room_id: str, contains: str, timeout: float = 20.0
    ) -> dict[str, Any]:
        """The first message whose body contains ``contains``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.messages(room_id):
                if contains in str(event.get("content", {}).get("body", "")):
                    return event
            time.sleep(0.1)
        raise TimeoutError(f"no message containing {contains!r} arrived in {timeout:.0f}s")
