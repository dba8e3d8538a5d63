"""The Discourse double answers as the official OpenAPI document says Discourse answers.

Every route the double serves that the document covers has a contract case here: a real HTTP
request to the running double whose response (status, ``Content-Type``, body schema) is
validated with openapi-core against ``tests/data/discourse/openapi.json``. A route the double
gains without a case, or without a documented reason why the document does not cover it,
fails :func:`test_every_route_the_spec_covers_has_a_contract_case`.

Where the document and the real forum disagree, the double follows the real forum and the
difference is listed in :data:`ERRATA` (each widens a type, never narrows one, and says why).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from sandbox.forum import SandboxForum
from sandbox.forum_render import avatar_png
from tests.rig.forum import FORUM_API_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Discourse's official OpenAPI document, kept in the repository so a clean clone anywhere checks
#: the double against it (the copy beside the project, when there is one, must be the same).
SPEC_PATH = REPO_ROOT / "tests" / "data" / "discourse" / "openapi.json"
#: sha256 of ``openapi.json`` in discourse/discourse_api_docs at commit 6737ac2a (79 paths),
#: the document the copy in ``tests/data`` was taken from.
UPSTREAM_SPEC_SHA256 = "4c0c6b17371cd8b9fb1045afe2e02d6d4c493a68072c0509f8a401d62e8cffbe"
JSON_TYPE = "application/json; charset=utf-8"
#: The host the document's only server template defaults to; requests are validated as if
#: they had gone there (the template's scheme and host cannot match a loopback port).
SPEC_HOST = "https://discourse.example.com"


@dataclass(frozen=True)
class Erratum:
    """A place where the document's schema is stricter than what Discourse really sends."""

    path: str
    method: str
    prop: str
    add: tuple[str, ...]
    why: str
    #: only properties of objects that also have a ``username`` (users, posts)
    in_user_objects: bool = False


ERRATA = [
    Erratum(
        "*",
        "*",
        "reply_to_post_number",
        ("integer",),
        "The rswag examples had no replies, so the document says string|null; Discourse sends "
        "the replied-to post number, an integer (posts.reply_to_post_number is an int column).",
    ),
    Erratum(
        "*",
        "*",
        "name",
        ("null",),
        "A user without a full name has name null (the document's examples all had names).",
        in_user_objects=True,
    ),
    Erratum(
        "*",
        "*",
        "display_username",
        ("null",),
        "PostSerializer#display_username is the author's name, so null when the name is.",
        in_user_objects=True,
    ),
    Erratum(
        "/t/{id}.json",
        "get",
        "reviewable_id",
        ("null",),
        "Posts nobody flagged have reviewable_id null; the document types it integer here only "
        "(every other post schema in it already allows null).",
    ),
    Erratum(
        "/categories.json",
        "get",
        "permission",
        ("null",),
        "CategoryList sets permission to 1 only when the viewer may create topics, else null; "
        "/c/{id}/show.json already allows null.",
    ),
    Erratum(
        "/site.json",
        "get",
        "permission",
        ("null",),
        "As for /categories.json: the viewer's create permission, null when they have none.",
    ),
    Erratum(
        "/site.json",
        "get",
        "topic_url",
        ("null",),
        "A category without a definition topic (Uncategorized) has topic_url null; the other "
        "category schemas in the document already allow it.",
    ),
    Erratum(
        "/u/{username}.json",
        "get",
        "featured_topic",
        ("null",),
        "Users who featured no topic have featured_topic null.",
    ),
    Erratum(
        "/latest.json",
        "get",
        "image_url",
        ("null",),
        "Topics without an image have image_url null (the topic view schema allows null).",
    ),
]

#: Routes the double serves that the document does not describe, and why they exist.
NOT_IN_SPEC: dict[tuple[str, str], str] = {
    ("GET", "/t/{}/{}"): "/t/{slug}/{id}.json, pydiscourse's topic() URL; same view as /t/{id}",
    ("GET", "/users/{}"): "/users/{username}.json, pydiscourse's user() URL; alias of /u/{}",
    ("GET", "/session/current"): "who the API key acts as; not in the document",
    ("PUT", "/posts/{}/recover"): "recovering a deleted post; not in the document",
    ("DELETE", "/post_actions/{}"): "undoing a like; not in the document",
    ("GET", "/uploads/default/original/{}"): "an upload's bytes (not JSON)",
    ("GET", "/uploads/short-url/{}"): "an upload's short URL, redirecting to the file",
    ("GET", "/user_avatar/{}/{}/{}/{}"): "avatar images (not JSON)",
    # The admin API porch setup discourse uses; the document has no admin webhook or site
    # setting routes. Shapes follow Admin::WebHooksController / AdminWebHookSerializer and
    # Admin::SiteSettingsController (tests/webhooks/test_setup.py exercises them).
    ("GET", "/admin/api/web_hooks"): "the forum's webhooks and their event types",
    ("POST", "/admin/api/web_hooks"): "creating a webhook",
    ("GET", "/admin/api/web_hooks/{}"): "one webhook",
    ("PUT", "/admin/api/web_hooks/{}"): "changing a webhook",
    ("DELETE", "/admin/api/web_hooks/{}"): "deleting a webhook",
    ("GET", "/admin/site_settings"): "site settings (allowed_internal_hosts)",
    ("PUT", "/admin/site_settings/{}"): "changing a site setting",
    # Admin::WatchedWordsController#index / WatchedWordListSerializer (reference §4;
    # tests/e2e/test_watched_words.py exercises it).
    ("GET", "/admin/customize/watched_words"): "the forum's watched words",
    # DiscourseConnect provider (a browser redirect, not JSON) and the double's browser login
    # (tests/webhooks/test_link_pages.py exercises both).
    # Undoing penalties (forum_sanctions.py; tests/bridges/test_sanctions_double.py).
    ("PUT", "/admin/users/{}/unsuspend"): "lifting a suspension; not in the document",
    ("PUT", "/admin/users/{}/unsilence"): "lifting a silence; not in the document",
    ("PUT", "/posts/{}/unhide"): "unhiding a hidden post (staff); not in the document",
    # PostsController#latest_revision / #revisions (forum_revisions.py; who edited a post,
    # tests/bridges/discourse/test_client_revisions.py exercises them).
    ("GET", "/posts/{}/revisions/latest"): "a post's latest revision; not in the document",
    ("GET", "/posts/{}/revisions/{}"): "one revision of a post; not in the document",
    ("GET", "/session/sso_provider"): "DiscourseConnect provider: signed redirect to the caller",
    ("POST", "/sandbox/login"): "test-only: log a browser in as a member (session cookie)",
}


def _spec_document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return loaded


def _response_schema(spec: dict[str, Any], path: str, method: str) -> dict[str, Any] | None:
    response = spec["paths"][path][method]["responses"].get("200", {})
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return schema if isinstance(schema, dict) else None


def _widen(schema: Any, erratum: Erratum) -> int:
    """Apply one erratum inside a schema; how many properties it widened."""
    if not isinstance(schema, dict):
        return 0
    count = 0
    properties = schema.get("properties")
    if isinstance(properties, dict):
        target = properties.get(erratum.prop)
        applies = isinstance(target, dict) and (
            not erratum.in_user_objects or "username" in properties
        )
        if applies and isinstance(target, dict):
            kinds = target.get("type")
            kinds = list(kinds) if isinstance(kinds, list) else [kinds] if kinds else []
            for kind in erratum.add:
                if kind not in kinds:
                    kinds.append(kind)
            target["type"] = kinds
            count += 1
        for child in properties.values():
            count += _widen(child, erratum)
    count += _widen(schema.get("items"), erratum)
    return count


def apply_errata(spec: dict[str, Any]) -> dict[str, int]:
    """The document with :data:`ERRATA` applied, and how often each one applied."""
    used: dict[str, int] = {}
    for erratum in ERRATA:
        key = f"{erratum.method} {erratum.path} {erratum.prop}"
        used[key] = 0
        for path, operations in spec["paths"].items():
            if erratum.path not in ("*", path):
                continue
            for method in operations:
                if erratum.method in ("*", method):
                    used[key] += _widen(_response_schema(spec, path, method), erratum)
    return used


@pytest.fixture(scope="module")
def spec_document() -> dict[str, Any]:
    return _spec_document()


@pytest.fixture(scope="module")
def openapi(spec_document: dict[str, Any]) -> OpenAPI:
    patched = copy.deepcopy(spec_document)
    apply_errata(patched)
    return OpenAPI.from_dict(patched, config=Config(spec_validator_cls=None))


class _AtSpecHost(RequestsOpenAPIRequest):
    @property
    def host_url(self) -> str:
        return SPEC_HOST


# --- the cases -------------------------------------------------------------------------------


class Api:
    """Requests to the double as a named user, over real HTTP."""

    def __init__(self, forum: SandboxForum) -> None:
        self.forum = forum
        self.session = requests.Session()

    def call(self, method: str, path: str, as_user: str | None = "porch", **kw: Any) -> Any:
        headers = {"Api-Key": FORUM_API_KEY, "Api-Username": as_user} if as_user else {}
        headers["Accept"] = "application/json"
        return self.session.request(
            method, self.forum.base_url + path, headers=headers, timeout=5, **kw
        )


def _world(forum: SandboxForum) -> dict[str, Any]:
    """Content for the cases: a restricted category, a read-only one, a nameless member, a
    tagged topic with a reply to a reply, a like, and a deleted post."""
    forum.add_user("carol", trust_level=2, groups=["teachers"])
    forum.add_category("staff-room", "Staff room", group_permissions={"teachers": 1, "staff": 1})
    forum.add_category("notices", "Notices", group_permissions={"everyone": 3, "staff": 1})
    first = forum.create_topic(
        "alice",
        "town-square",
        "Where should the new bench go?",
        "The council has **one** bench to place.\nPark gate or library steps?",
        tags=["benches", "public-space"],
    )
    topic_id = first["topic_id"]
    second = forum.reply("carol", topic_id, "Library steps: people wait there for the bus.")
    forum.reply("bob", topic_id, "Agreed, the library steps have shade too.", 2)
    gone = forum.reply("bob", topic_id, "Oops, posted this one in the wrong topic.")
    forum.delete_post(gone["id"], by="porch")
    forum.like("bob", second["id"])
    return {"topic_id": topic_id, "first": first, "second": second}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    spec_path: str
    run: Callable[[Api, dict[str, Any]], Any]


def _create_topic(api: Api, world: dict[str, Any]) -> Any:
    return api.call(
        "POST",
        "/posts.json",
        "alice",
        data={
            "title": "A second topic about the benches",
            "raw": "What colour should the bench be? Green or wood?",
            "category": api.forum.category_id("town-square"),
        },
    )


def _reply_json(api: Api, world: dict[str, Any]) -> Any:
    return api.call(
        "POST",
        "/posts.json",
        "chat-relay",
        json={
            "topic_id": world["topic_id"],
            "raw": "**carol** (chat): wood, it stays cooler in summer.",
            "reply_to_post_number": 2,
        },
    )


def _update(api: Api, world: dict[str, Any]) -> Any:
    return api.call(
        "PUT",
        f"/posts/{world['second']['id']}.json",
        "carol",
        data={"post[raw]": "Library steps: people wait there for the bus every day."},
    )


def _delete_post(api: Api, world: dict[str, Any]) -> Any:
    return api.call("DELETE", f"/posts/{world['second']['id']}.json", "porch")


def _delete_topic(api: Api, world: dict[str, Any]) -> Any:
    return api.call("DELETE", f"/t/{world['topic_id']}.json", "porch")


def _retitle(api: Api, world: dict[str, Any]) -> Any:
    return api.call(
        "PUT",
        f"/t/-/{world['topic_id']}.json",
        "alice",
        json={"title": "Where should the new benches go?"},
    )


def _upload(api: Api, world: dict[str, Any]) -> Any:
    return api.call(
        "POST",
        "/uploads.json",
        "chat-relay",
        data={"type": "composer", "synchronous": "true"},
        files={"file": ("bench.png", avatar_png("bench", 64), "image/png")},
    )


def _like(api: Api, world: dict[str, Any]) -> Any:
    return api.call(
        "POST",
        "/post_actions.json",
        "carol",
        data={"id": world["first"]["id"], "post_action_type_id": 2},
    )


def _bob_id(api: Api) -> int:
    return int(api.call("GET", "/u/bob.json").json()["user"]["id"])


def _suspend(api: Api, world: dict[str, Any]) -> Any:
    return api.call(
        "PUT",
        f"/admin/users/{_bob_id(api)}/suspend.json",
        json={"suspend_until": "2121-02-22", "reason": "spam"},
    )


def _silence(api: Api, world: dict[str, Any]) -> Any:
    return api.call(
        "PUT",
        f"/admin/users/{_bob_id(api)}/silence.json",
        json={"silenced_till": "2122-06-01T08:00:00.000Z", "reason": "flooding"},
    )


def _admin_user(api: Api, world: dict[str, Any]) -> Any:
    _suspend(api, world)
    _silence(api, world)
    return api.call("GET", f"/admin/users/{_bob_id(api)}.json")


CASES = [
    Case("categories", "GET", "/categories.json", lambda a, w: a.call("GET", "/categories.json")),
    Case(
        "categories as a member",
        "GET",
        "/categories.json",
        lambda a, w: a.call("GET", "/categories.json", "carol"),
    ),
    Case(
        "restricted category",
        "GET",
        "/c/{id}/show.json",
        lambda a, w: a.call("GET", f"/c/{a.forum.category_id('staff-room')}/show.json"),
    ),
    Case(
        "category after a security change (porch reads tiers here)",
        "GET",
        "/c/{id}/show.json",
        lambda a, w: (
            a.forum.set_category_security("notices", group_permissions={"trust_level_0": 1}),
            a.call("GET", f"/c/{a.forum.category_id('notices')}/show.json"),
        )[1],
    ),
    Case("site", "GET", "/site.json", lambda a, w: a.call("GET", "/site.json", "carol")),
    Case("latest topics", "GET", "/latest.json", lambda a, w: a.call("GET", "/latest.json")),
    Case("latest posts", "GET", "/posts.json", lambda a, w: a.call("GET", "/posts.json", None)),
    Case("new topic", "POST", "/posts.json", _create_topic),
    Case("reply (JSON body)", "POST", "/posts.json", _reply_json),
    Case(
        "a reply",
        "GET",
        "/posts/{id}.json",
        lambda a, w: a.call("GET", f"/posts/{w['second']['id'] + 1}.json"),
    ),
    Case("edit", "PUT", "/posts/{id}.json", _update),
    Case("delete post", "DELETE", "/posts/{id}.json", _delete_post),
    Case(
        "topic view",
        "GET",
        "/t/{id}.json",
        lambda a, w: a.call("GET", f"/t/{w['topic_id']}.json"),
    ),
    Case(
        "topic view as a member",
        "GET",
        "/t/{id}.json",
        lambda a, w: a.call("GET", f"/t/{w['topic_id']}.json", "carol"),
    ),
    Case("delete topic", "DELETE", "/t/{id}.json", _delete_topic),
    Case("retitle", "PUT", "/t/-/{id}.json", _retitle),
    Case(
        "user without a name",
        "GET",
        "/u/{username}.json",
        lambda a, w: a.call("GET", "/u/carol.json"),
    ),
    Case(
        "group members (porch reconciles rooms with them)",
        "GET",
        "/groups/{name}/members.json",
        lambda a, w: a.call("GET", "/groups/teachers/members.json?limit=1000&offset=0"),
    ),
    Case("upload", "POST", "/uploads.json", _upload),
    Case("like", "POST", "/post_actions.json", _like),
    Case(
        "staff flag that hides the post",
        "POST",
        "/post_actions.json",
        lambda a, w: a.call(
            "POST",
            "/post_actions.json",
            data={"id": w["second"]["id"], "post_action_type_id": 4, "take_action": "true"},
        ),
    ),
    Case("suspend", "PUT", "/admin/users/{id}/suspend.json", _suspend),
    Case("silence", "PUT", "/admin/users/{id}/silence.json", _silence),
    Case("admin user, suspended and silenced", "GET", "/admin/users/{id}.json", _admin_user),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_response_matches_the_document(case: Case, forum: SandboxForum, openapi: OpenAPI) -> None:
    world = _world(forum)
    response = case.run(Api(forum), world)
    assert response.status_code == 200, response.text
    assert response.request.method == case.method
    # pydiscourse refuses anything but exactly this content type.
    assert response.headers["Content-Type"] == JSON_TYPE
    openapi.validate_response(_AtSpecHost(response.request), RequestsOpenAPIResponse(response))


# --- coverage of the double's routes ---------------------------------------------------------


def _shape(path: str) -> str:
    """``/posts/{id}.json`` and ``/posts/<int:post_id>`` both become ``/posts/{}``."""
    path = path.removesuffix(".json")
    return re.sub(r"\{[^}]+\}|<[^>]+>", "{}", path)


def _served_routes(forum: SandboxForum) -> set[tuple[str, str]]:
    served = set()
    for rule in forum.app.url_map.iter_rules():
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                served.add((method, _shape(rule.rule)))
    return served


def test_every_route_the_spec_covers_has_a_contract_case(
    forum: SandboxForum, spec_document: dict[str, Any]
) -> None:
    documented = {
        (method.upper(), _shape(path))
        for path, operations in spec_document["paths"].items()
        for method in operations
    }
    cased = {(c.method, _shape(c.spec_path)) for c in CASES}
    served = _served_routes(forum)
    missing = sorted(r for r in served if r in documented and r not in cased)
    assert not missing, f"served routes the document covers, without a contract case: {missing}"
    unexplained = sorted(r for r in served if r not in documented and r not in NOT_IN_SPEC)
    assert not unexplained, (
        f"served routes the document does not cover; add each to NOT_IN_SPEC with why: "
        f"{unexplained}"
    )
    stale = sorted(set(NOT_IN_SPEC) - served) + sorted(cased - served)
    assert not stale, f"listed but no longer served: {stale}"
    assert not (set(NOT_IN_SPEC) & documented), "NOT_IN_SPEC lists a route the document covers"


def test_every_erratum_still_applies(spec_document: dict[str, Any]) -> None:
    """An erratum the document no longer needs (it was fixed upstream) must be removed."""
    used = apply_errata(copy.deepcopy(spec_document))
    stale = [key for key, count in used.items() if count == 0]
    assert not stale, f"errata that match nothing in the document: {stale}"


@pytest.fixture
def api(forum: SandboxForum) -> Iterator[Api]:
    client = Api(forum)
    yield client
    client.session.close()


def test_errors_have_discourse_shapes(forum: SandboxForum, api: Api) -> None:
    """Errors the document does not describe follow lib/json_error.rb (reference §2.3)."""
    bad_key = api.session.get(
        forum.base_url + "/categories.json",
        headers={"Api-Key": "wrong-key", "Api-Username": "porch"},
        timeout=5,
    )
    assert bad_key.status_code == 403
    assert bad_key.headers["Content-Type"] == JSON_TYPE
    assert bad_key.json()["error_type"] == "invalid_access"
    assert "API username or key is invalid" in bad_key.json()["errors"][0]

    unknown_user = api.call("GET", "/categories.json", "nobody-here")
    assert unknown_user.status_code == 403

    missing = api.call("GET", "/t/999999.json")
    assert missing.status_code == 404
    assert missing.json() == {
        "errors": ["The requested URL or resource could not be found."],
        "error_type": "not_found",
    }

    short = api.call("POST", "/posts.json", "alice", data={"title": "Short", "raw": "tiny"})
    assert short.status_code == 422
    body = short.json()
    assert body["action"] == "create_post"
    assert "success" not in body
    assert body["errors"] == [
        "Body is too short (minimum is 20 characters)",
        "Title is too short (minimum is 15 characters)",
    ]

    anonymous = api.call("POST", "/posts.json", None, data={"title": "x" * 20, "raw": "y" * 30})
    assert anonymous.status_code == 403
    assert anonymous.json()["error_type"] == "not_logged_in"


def test_the_kept_document_is_the_upstream_one() -> None:
    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == UPSTREAM_SPEC_SHA256
