"""``porch setup discourse`` and ``porch setup matrix``: the fiddly parts of connecting porch.

Both explain every step on the way (one line per step: what was checked or done, and on what),
change nothing when everything is as porch needs it already, and say so. ``setup discourse``
looks at everything before it changes anything: when something must be fixed by hand first it
prints exactly what, and exits 1 with the forum untouched.

Exit codes (both commands): 0 when the forum's webhook / the registration file is as porch
needs it (created, updated or unchanged); 1 when something must be fixed first (printed).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bridges.discourse.client import ForumClient
from bridges.discourse.forum_errors import ForumAuthError, ForumError, ForumNotFound
from bridges.links import LinkConfig
from bridges.matrix.registration import registration, registration_yaml
from webhooks.config import PorchConfig

Say = Callable[[str], None]

#: The forum events porch reads (``bridges.discourse.payloads.EVENT_KINDS``), as the granular
#: event types of a newer forum subscribes to them (reference §1.4). ``topic_edited`` also
#: brings the ``topic_*_status_updated`` events (``EVENT_NAME_TO_EVENT_TYPE_MAP``).
GRANULAR_EVENTS = (
    "post_created",
    "post_edited",
    "post_destroyed",
    "post_recovered",
    "topic_edited",
    "topic_destroyed",
    "topic_recovered",
    # A category's security gives its tier (bridges/link_tiers.py). The forum's category filter
    # drops these (they carry no category_id, reference §1.3): with the filter on, the tiers
    # follow from relay.tier_refresh alone.
    "category_created",
    "category_updated",
    "category_destroyed",
    # Suspensions and silences follow into bridged rooms (bridges/moderation/sanctions.py).
    # They carry no category_id either: the category filter drops them too.
    "user_updated",
    "user_suspended",
    "user_unsuspended",
)
#: The like event, for links that carry reactions.
GRANULAR_LIKE = "like_created"
#: The same on an older forum, which subscribes by event type.
TYPE_EVENTS = ("post", "topic", "category", "user")
TYPE_LIKE = "like"
#: Group membership, for links whose room follows forum groups (bridges/membership). Like the
#: category events, these carry no category_id: the category filter drops them.
GRANULAR_GROUP_USER = ("group_user_added", "group_user_removed")
TYPE_GROUP_USER = "group_user"
#: The forum's review queue, when porch has one configured (``moderation.review``): porch
#: follows the posts the forum queued (bridges/review/forum_queue.py). Reviewables carry their
#: category, so the category filter lets the linked categories' through.
GRANULAR_REVIEWABLE = ("reviewable_created", "reviewable_updated")
TYPE_REVIEWABLE = "reviewable"
#: The forum setting that lets it call hosts on private networks (reference §1.1).
ALLOWED_INTERNAL_HOSTS = "allowed_internal_hosts"
#: ``WebHook.content_types``: porch reads JSON.
JSON_CONTENT_TYPE = 1


class SetupProblem(Exception):
    """Something to fix before setup can go on; the message says what and where."""


def webhook_url(config: PorchConfig) -> str:
    """Where the forum posts webhooks: ``discourse.webhook_url``, else
    ``matrix.appservice.url`` + ``/discourse/webhook``."""
    if config.discourse.webhook_url is not None:
        return str(config.discourse.webhook_url)
    if config.matrix.appservice is None:
        raise SetupProblem(
            "discourse.webhook_url: set it to the URL the forum posts webhooks to "
            "(https://porch.example.org/discourse/webhook); there is no matrix.appservice.url "
            "to derive it from"
        )
    return str(config.matrix.appservice.url).rstrip("/") + "/discourse/webhook"


# --- the forum's webhook ---------------------------------------------------------------------


@dataclass(frozen=True)
class WantedHook:
    """The webhook porch needs, in the admin API's terms."""

    url: str
    secret: str
    event_ids: tuple[int, ...]
    event_names: tuple[str, ...]
    category_ids: tuple[int, ...]

    def fields(self) -> dict[str, Any]:
        """``web_hook`` parameters (``Admin::WebHooksController#web_hook_params``)."""
        return {
            "payload_url": self.url,
            "content_type": JSON_CONTENT_TYPE,
            "secret": self.secret,
            "wildcard_web_hook": False,
            "active": True,
            "web_hook_event_type_ids": list(self.event_ids),
            "category_ids": list(self.category_ids),
        }

    def differences(self, hook: Mapping[str, Any]) -> list[str]:
        """What an existing webhook has otherwise (names only: never a secret's value)."""
        found = []
        if hook.get("content_type") != JSON_CONTENT_TYPE:
            found.append("content type (must be application/json)")
        # A forum that does not show secrets cannot be compared: set ours to be sure.
        if hook.get("secret") != self.secret:
            found.append("secret")
        names = {
            str(t.get("name"))
            for t in hook.get("web_hook_event_types") or []
            if isinstance(t, dict)
        }
        if names != set(self.event_names) or hook.get("wildcard_web_hook"):
            found.append(f"events (has {', '.join(sorted(names)) or 'none'})")
        categories = {int(c) for c in hook.get("category_ids") or [] if isinstance(c, int)}
        if categories != set(self.category_ids):
            found.append(f"categories (has {_ids(categories)})")
        if not hook.get("active"):
            found.append("inactive")
        return found


def _ids(ids: Sequence[int] | set[int]) -> str:
    return ", ".join(str(i) for i in sorted(ids)) or "none"


def setup_discourse(
    config: PorchConfig, forum: ForumClient, say: Say, *, category_filter: bool = True
) -> int:
    """Create or update porch's webhook on the forum; returns the exit code."""
    try:
        wanted, hooks = _wanted_hook(config, forum, say, category_filter=category_filter)
        return _apply(forum, wanted, hooks, say)
    except SetupProblem as exc:
        say(f"problem: {exc}")
        say("nothing was changed on the forum; fix the above and run porch setup again")
        return 1
    except ForumError as exc:
        say(f"problem: the forum refused or failed: {exc}")
        return 1


def _wanted_hook(
    config: PorchConfig, forum: ForumClient, say: Say, *, category_filter: bool
) -> tuple[WantedHook, list[dict[str, Any]]]:
    """The webhook porch needs, and the forum's webhooks as they are."""
    account = _admin_account(config, forum)
    say(f"forum: {config.discourse.base_url} answers; the API key acts as {account} (admin)")
    url = webhook_url(config)
    source = "discourse.webhook_url" if config.discourse.webhook_url else "matrix.appservice.url"
    say(f"webhook URL: {url} (from {source})")
    _check_internal_host(config, forum, url, say)
    categories = _category_ids(config.links, forum) if category_filter else ()
    if category_filter:
        named = ", ".join(f"{ref} = {cid}" for ref, cid in categories)
        say(f"categories: {named} (the linked ones; the forum sends nothing from others)")
    else:
        say("categories: all (no category filter)")
    hooks, extras = forum.web_hooks()
    ids, names = _event_types(
        extras,
        any(link.reactions for link in config.links),
        groups=any(link.membership.manage for link in config.links),
        reviews=config.moderation.review.room is not None
        or bool(config.moderation.review.moderators),
    )
    say(f"events: {', '.join(names)}")
    if category_filter:
        say(
            "note: with the category filter the forum sends no category events; porch reads "
            "the categories' security again every relay.tier_refresh seconds instead "
            "(--no-category-filter: at once)"
        )
    wanted = WantedHook(
        url=url,
        secret=config.discourse.webhook_secret.get_secret_value(),
        event_ids=ids,
        event_names=names,
        category_ids=tuple(sorted({cid for _, cid in categories})),
    )
    return wanted, hooks


def _admin_account(config: PorchConfig, forum: ForumClient) -> str:
    try:
        me = forum.current_user()
    except ForumAuthError as exc:
        raise SetupProblem(
            f"discourse.api_key: the forum refused the key for "
            f"'{config.discourse.api_username}' ({exc})"
        ) from exc
    except ForumNotFound as exc:
        raise SetupProblem(
            f"discourse.api_username: the forum knows no account "
            f"'{config.discourse.api_username}' for this key ({exc})"
        ) from exc
    name = str(me.get("username") or config.discourse.api_username)
    if not me.get("admin"):
        raise SetupProblem(
            f"discourse.api_username: '{name}' is not an admin; managing webhooks needs an admin "
            "account (grant it admin, or set api_username to an admin for setup)"
        )
    return name


def _category_ids(links: Sequence[LinkConfig], forum: ForumClient) -> list[tuple[str, int]]:
    visible = forum.categories()
    found: list[tuple[str, int]] = []
    for i, link in enumerate(links):
        ref = str(link.forum.category)
        match = next((c for c in visible if ref in (str(c.get("id")), str(c.get("slug")))), None)
        if match is None or not isinstance(match.get("id"), int):
            raise SetupProblem(
                f"links[{i}].forum.category: the forum has no category '{ref}' that porch's "
                "account can see"
            )
        found.append((ref, int(match["id"])))
    return found


def _event_types(
    extras: Mapping[str, Any], likes: bool, *, groups: bool = False, reviews: bool = False
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The ids of the event types porch needs, among those the forum offers."""
    offered: dict[str, int] = {}
    grouped = extras.get("grouped_event_types")
    listed: list[Any] = []
    if isinstance(grouped, dict):
        listed = [t for group in grouped.values() if isinstance(group, list) for t in group]
    elif isinstance(extras.get("event_types"), list):
        listed = extras["event_types"]
    for entry in listed:
        if isinstance(entry, dict) and isinstance(entry.get("id"), int):
            offered[str(entry.get("name"))] = int(entry["id"])
    if "post_created" in offered:
        names = [*GRANULAR_EVENTS, *([GRANULAR_LIKE] if likes else [])]
        names += list(GRANULAR_GROUP_USER) if groups else []
        names += list(GRANULAR_REVIEWABLE) if reviews else []
    elif "post" in offered:
        names = [*TYPE_EVENTS, *([TYPE_LIKE] if likes else [])]
        names += [TYPE_GROUP_USER] if groups else []
        names += [TYPE_REVIEWABLE] if reviews else []
    else:
        raise SetupProblem(
            "the forum's webhook page offers no post or topic events "
            f"(it offers: {', '.join(sorted(offered)) or 'nothing'})"
        )
    missing = [n for n in names if n not in offered]
    if missing:
        raise SetupProblem(f"the forum offers no {', '.join(missing)} webhook events")
    return tuple(offered[n] for n in names), tuple(names)


def _apply(forum: ForumClient, wanted: WantedHook, hooks: list[dict[str, Any]], say: Say) -> int:
    ours = [h for h in hooks if str(h.get("payload_url", "")).strip() == wanted.url]
    summary = (
        f"for {wanted.url} with events {', '.join(wanted.event_names)} on categories "
        f"{_ids(wanted.category_ids) if wanted.category_ids else 'all'}"
    )
    for other in hooks:
        url = str(other.get("payload_url", ""))
        if other not in ours and url.rstrip("/").endswith("/discourse/webhook"):
            say(
                f"note: webhook {other.get('id')} posts to {url}, which looks like an older porch "
                "address; left alone (delete it in the forum's admin if porch moved)"
            )
    if not ours:
        made = forum.create_web_hook(wanted.fields())
        say(f"webhook: created (id {made.get('id')}) {summary}")
        return 0
    if len(ours) > 1:
        extra = ", ".join(str(h.get("id")) for h in ours[1:])
        say(f"note: webhooks {extra} post to the same URL too: porch receives each event twice")
    hook = ours[0]
    differences = wanted.differences(hook)
    if not differences:
        say(f"webhook: unchanged (id {hook.get('id')}) {summary}; nothing to do")
        return 0
    forum.update_web_hook(int(hook["id"]), wanted.fields())
    say(f"webhook: updated (id {hook.get('id')}): {'; '.join(differences)} -> {summary}")
    return 0


# --- the forum's allow-list of internal hosts ------------------------------------------------


def _internal_addresses(host: str) -> list[str] | None:
    """The private or loopback addresses ``host`` resolves to here (empty: a public host);
    None when it does not resolve from this machine."""
    try:
        addresses = {str(info[4][0]).split("%", 1)[0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return None
    internal = []
    for address in sorted(addresses):
        ip = ipaddress.ip_address(address)
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified:
            internal.append(address)
    return internal if len(internal) == len(addresses) else []


def _check_internal_host(config: PorchConfig, forum: ForumClient, url: str, say: Say) -> None:
    """The forum refuses to call private addresses unless their host is allow-listed
    (``FinalDestination::SSRFDetector``, reference §1.1): check before saving the webhook."""
    host = (urlsplit(url).hostname or "").lower()
    forum_host = (urlsplit(config.discourse.base_url).hostname or "").lower()
    if host == forum_host:
        say(f"forum setting {ALLOWED_INTERNAL_HOSTS}: not needed ({host} is the forum's own host)")
        return
    internal = _internal_addresses(host)
    if internal == []:
        say(f"forum setting {ALLOWED_INTERNAL_HOSTS}: not needed ({host} is a public address)")
        return
    why = (
        f"{host} resolves to {', '.join(internal)} here"
        if internal
        else f"{host} does not resolve from here, so it is taken for a private name"
    )
    try:
        current = forum.site_settings([ALLOWED_INTERNAL_HOSTS]).get(ALLOWED_INTERNAL_HOSTS)
    except ForumError as exc:
        say(
            f"warning: could not read the forum setting {ALLOWED_INTERNAL_HOSTS} ({exc}); "
            f"{why}: the forum must list {host} there or it refuses the webhook"
        )
        return
    listed = [h.strip() for h in (current or "").replace("\n", "|").split("|") if h.strip()]
    if host in (h.lower() for h in listed):
        say(f"forum setting {ALLOWED_INTERNAL_HOSTS}: includes {host} ({why})")
        return
    value = "|".join([*listed, host])
    raise SetupProblem(
        f"forum setting {ALLOWED_INTERNAL_HOSTS} does not include {host} ({why}); the forum "
        f"refuses to call private addresses that are not listed there. In the forum's admin, "
        f"Settings -> Security -> allowed internal hosts, set it to: {value}"
    )


# --- the homeserver's registration -----------------------------------------------------------


def setup_matrix(
    config: PorchConfig,
    output: Path,
    say: Say,
    *,
    token_accepted: Callable[[], str | None] | None = None,
) -> int:
    """Write the registration file and say how to install it; returns the exit code.

    ``token_accepted`` (optional) asks the homeserver whether it knows porch already: it
    returns None when porch's ``as_token`` is accepted, else why not.
    """
    if config.matrix.appservice is None:
        say("problem: matrix.appservice: a registration needs this section (mode appservice)")
        return 1
    text = registration_yaml(config.matrix)
    data = registration(config.matrix)
    path = output.resolve()
    previous = path.read_text(encoding="utf-8") if path.is_file() else None
    if previous == text:
        state = "unchanged"
    else:
        state = "written" if previous is None else "updated"
        path.parent.mkdir(parents=True, exist_ok=True)
        # It holds porch's tokens: readable by its owner only.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    appservice = config.matrix.appservice
    bot = f"@{appservice.bot_localpart}:{config.matrix.server_name}"
    say(
        f"registration: {state} {path} (id {data['id']}, porch at {data['url']}, bot {bot}, "
        f"ghosts @{appservice.ghost_prefix}*:{config.matrix.server_name})"
    )
    say(
        "homeserver: copy it where the homeserver can read it (it holds porch's tokens: keep it "
        "private), list it in homeserver.yaml and restart the homeserver:"
    )
    say("    app_service_config_files:")
    say(f"      - {path}")
    if state == "updated":
        say("homeserver: the file changed, so the homeserver must be restarted to read it")
    if token_accepted is not None:
        refused = token_accepted()
        if refused is None:
            say("homeserver: it accepts porch's as_token already (this registration is loaded)")
        else:
            say(f"homeserver: it does not accept porch's as_token yet ({refused})")
    say(f"rooms: invite {bot} to every linked room (it joins by itself once invited):")
    for link in config.links:
        say(f"    {link.name}: {link.room} <-> forum category {link.forum.category}")
    say("then: porch serve -c <config>, and porch check --online -c <config> to prove it all")
    return 0
