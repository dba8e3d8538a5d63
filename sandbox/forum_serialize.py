"""What the sandbox forum says about its records: webhook payloads and REST bodies.

Webhook payloads carry the key sets the Discourse serializer specs assert
(``WebHookPostSerializer``, ``WebHookTopicViewSerializer``). REST bodies carry the key sets
of the official OpenAPI document (``tests/data/discourse/openapi.json``), which the contract
test checks; where that document and the real forum disagree, the contract test lists the
difference.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from sandbox.forum_model import (
    FULL,
    LIKE,
    Category,
    ForumData,
    PendingPost,
    Post,
    Topic,
    Upload,
    User,
)
from sandbox.forum_render import base62, excerpt, human_filesize, iso

Json = dict[str, Any]


def _keys(names: str) -> tuple[str, ...]:
    return tuple(names.split())


# --- key sets --------------------------------------------------------------------------------

#: ``WebHookPostSerializer`` ([B] spec/serializers/web_hook_post_serializer_spec.rb);
#: ``category_slug`` only when the topic has a category, ``reply_to_user`` only for replies.
WEBHOOK_POST_KEYS = _keys(
    "id name username avatar_template created_at cooked post_number post_type updated_at "
    "reply_count reply_to_post_number quote_count incoming_link_count reads score topic_id "
    "topic_slug topic_title category_id display_username primary_group_name flair_name version "
    "user_title bookmarked raw moderator admin staff user_id hidden trust_level deleted_at "
    "user_deleted edit_reason wiki reviewable_id reviewable_score_count "
    "reviewable_score_pending_count topic_posts_count topic_filtered_posts_count topic_archetype "
    "category_slug reply_to_user"
)

#: ``POST /posts.json``.
CREATED_POST_KEYS = _keys(
    "id name username avatar_template created_at raw cooked post_number post_type posts_count "
    "updated_at reply_count reply_to_post_number quote_count incoming_link_count reads "
    "readers_count score yours topic_id topic_slug display_username primary_group_name "
    "flair_name flair_url flair_bg_color flair_color flair_group_id badges_granted version "
    "can_edit can_delete can_recover can_see_hidden_post can_wiki user_title bookmarked "
    "actions_summary moderator admin staff user_id draft_sequence hidden trust_level deleted_at "
    "user_deleted edit_reason can_view_edit_history wiki reviewable_id reviewable_score_count "
    "reviewable_score_pending_count post_url post_localizations mentioned_users"
)

#: ``PUT /posts/{id}.json`` (inside ``{"post": ...}``).
UPDATED_POST_KEYS = _keys(
    "id name username avatar_template created_at cooked post_number post_type posts_count "
    "updated_at reply_count reply_to_post_number quote_count incoming_link_count reads "
    "readers_count score yours topic_id topic_slug display_username primary_group_name "
    "flair_name flair_url flair_bg_color flair_color flair_group_id badges_granted version "
    "can_edit can_delete can_recover can_see_hidden_post can_wiki user_title bookmarked raw "
    "actions_summary moderator admin staff user_id draft_sequence hidden trust_level deleted_at "
    "user_deleted edit_reason can_view_edit_history wiki reviewable_id reviewable_score_count "
    "reviewable_score_pending_count post_url post_localizations mentioned_users"
)

#: ``GET /posts/{id}.json``, ``POST /post_actions.json`` and the other single-post answers.
SHOWN_POST_KEYS = _keys(
    "id name username avatar_template created_at cooked post_number post_type posts_count "
    "updated_at reply_count reply_to_post_number quote_count incoming_link_count reads "
    "readers_count score yours topic_id topic_slug display_username primary_group_name "
    "flair_name flair_url flair_bg_color flair_color flair_group_id badges_granted version "
    "can_edit can_delete can_recover can_see_hidden_post can_wiki user_title bookmarked raw "
    "actions_summary moderator admin staff user_id hidden trust_level deleted_at user_deleted "
    "edit_reason can_view_edit_history wiki reviewable_id reviewable_score_count "
    "reviewable_score_pending_count post_url mentioned_users reply_to_user"
)

#: ``post_stream.posts`` of ``GET /t/{id}.json`` (no ``raw``: the topic view never sends it).
TOPIC_VIEW_POST_KEYS = _keys(
    "id name username avatar_template created_at cooked post_number post_type updated_at "
    "reply_count reply_to_post_number quote_count incoming_link_count reads readers_count score "
    "yours topic_id topic_slug display_username primary_group_name flair_name flair_url "
    "flair_bg_color flair_color version can_edit can_delete can_recover can_see_hidden_post "
    "can_wiki link_counts read user_title bookmarked actions_summary moderator admin staff "
    "user_id hidden trust_level deleted_at user_deleted edit_reason can_view_edit_history wiki "
    "reviewable_id reviewable_score_count reviewable_score_pending_count"
)

#: ``GET /posts.json`` (``latest_posts``).
LATEST_POST_KEYS = _keys(
    "id name username avatar_template created_at cooked post_number post_type posts_count "
    "updated_at reply_count reply_to_post_number quote_count incoming_link_count reads "
    "readers_count score yours topic_id topic_slug topic_title topic_html_title category_id "
    "display_username primary_group_name flair_name flair_url flair_bg_color flair_color "
    "flair_group_id badges_granted version can_edit can_delete can_recover can_see_hidden_post "
    "can_wiki user_title bookmarked raw actions_summary moderator admin staff user_id hidden "
    "trust_level deleted_at user_deleted edit_reason can_view_edit_history wiki excerpt "
    "truncated reviewable_id reviewable_score_count reviewable_score_pending_count post_url"
)

#: Keys a plugin adds to post payloads; consumers must ignore keys they do not know.
PLUGIN_POST_KEYS: Json = {"reactions": []}
PLUGIN_TOPIC_KEYS: Json = {"accepted_answer": None}


def _project(fields: Json, keys: Iterable[str]) -> Json:
    return {key: fields[key] for key in keys if key in fields}


# --- users -----------------------------------------------------------------------------------


def avatar_template(data: ForumData, user: User) -> str:
    """``/user_avatar/<host>/<username>/{size}/<upload>_2.png``, relative as the forum sends it."""
    return f"/user_avatar/{data.host}/{user.username_lower}/{{size}}/{user.id}_2.png"


def basic_user(data: ForumData, user: User) -> Json:
    """``BasicUserSerializer``."""
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "avatar_template": avatar_template(data, user),
    }


def _user_post_count(data: ForumData, user: User) -> int:
    return sum(1 for p in data.posts.values() if p.user_id == user.id and p.deleted_at is None)


def _user_topic_count(data: ForumData, user: User) -> int:
    return sum(1 for t in data.topics.values() if t.user_id == user.id and t.deleted_at is None)


# --- posts -----------------------------------------------------------------------------------


def _live_posts(data: ForumData, topic_id: int) -> list[Post]:
    return [p for p in data.topic_posts(topic_id) if p.deleted_at is None]


def _actions_summary(
    data: ForumData, post: Post, viewer: User | None, *, rich: bool
) -> list[Json]:
    can_act = viewer is not None and viewer.id != post.user_id and viewer.id not in post.likes
    entry: Json = {"id": LIKE, "can_act": can_act}
    if rich and post.likes:
        entry["count"] = len(post.likes)
    if rich and viewer is not None and viewer.id in post.likes:
        entry["acted"] = True
        entry["can_undo"] = True
    return [entry]


def post_fields(data: ForumData, post: Post, viewer: User | None, *, rich: bool = True) -> Json:
    """Every field any post serializer sends; the callers pick their key set."""
    author = data.users[post.user_id]
    topic = data.topics[post.topic_id]
    category = data.categories.get(topic.category_id or 0)
    live = _live_posts(data, topic.id)
    counted = [p for p in live if not p.user_deleted and p.post_type == 1]
    fields: Json = {
        "id": post.id,
        "name": author.name,
        "username": author.username,
        "avatar_template": avatar_template(data, author),
        "created_at": iso(post.created_at),
        "cooked": post.cooked,
        "post_number": post.post_number,
        "post_type": post.post_type,
        "posts_count": _user_post_count(data, author),
        "updated_at": iso(post.updated_at),
        "reply_count": sum(1 for p in live if p.reply_to_post_number == post.post_number),
        "reply_to_post_number": post.reply_to_post_number,
        "quote_count": 0,
        "incoming_link_count": 0,
        "reads": 1,
        "readers_count": 0,
        "score": 0,
        "yours": viewer is not None and viewer.id == author.id,
        "topic_id": topic.id,
        "topic_slug": topic.slug,
        "topic_title": topic.title,
        "topic_html_title": html.escape(topic.title, quote=False),
        "category_id": topic.category_id,
        "display_username": author.name,
        "primary_group_name": None,
        "flair_name": None,
        "flair_url": None,
        "flair_bg_color": None,
        "flair_color": None,
        "flair_group_id": None,
        "badges_granted": [],
        "version": post.version,
        "can_edit": data.can_edit_post(viewer, post),
        "can_delete": data.can_delete_post(viewer, post),
        "can_recover": data.can_recover_post(viewer, post),
        "can_see_hidden_post": viewer is not None and viewer.staff,
        "can_wiki": viewer is not None and viewer.staff,
        "link_counts": [],
        "read": True,
        "user_title": author.title,
        "bookmarked": False,
        "raw": post.raw,
        "actions_summary": _actions_summary(data, post, viewer, rich=rich),
        "moderator": author.moderator,
        "admin": author.admin,
        "staff": author.staff,
        "user_id": author.id,
        "draft_sequence": 0,
        "hidden": post.hidden,
        "trust_level": author.trust_level,
        "deleted_at": iso(post.deleted_at) if post.deleted_at else None,
        "user_deleted": post.user_deleted,
        "edit_reason": post.edit_reason,
        "can_view_edit_history": True,
        "wiki": post.wiki,
        "excerpt": excerpt(post.cooked),
        "truncated": len(excerpt(post.cooked, 10_000)) > 200,
        "reviewable_id": None,
        "reviewable_score_count": 0,
        "reviewable_score_pending_count": 0,
        "post_url": f"/t/{topic.slug}/{topic.id}/{post.post_number}",
        "mentioned_users": [],
        "post_localizations": [],
        "topic_posts_count": len(counted),
        "topic_filtered_posts_count": len(counted),
        "topic_archetype": topic.archetype,
    }
    if category is not None:
        fields["category_slug"] = category.slug
    if post.reply_to_post_number is not None:
        target = data.post_by_number(topic.id, post.reply_to_post_number)
        if target is not None:
            replied = data.users[target.user_id]
            fields["reply_to_user"] = {
                "username": replied.username,
                "name": replied.name,
                "avatar_template": avatar_template(data, replied),
            }
    return fields


def webhook_post(data: ForumData, post: Post) -> Json:
    """The ``post`` webhook payload, serialized as the system user like the real job does."""
    fields = _project(post_fields(data, post, viewer=None), WEBHOOK_POST_KEYS)
    return {**fields, **PLUGIN_POST_KEYS}


def created_post(data: ForumData, post: Post, viewer: User) -> Json:
    return _project(post_fields(data, post, viewer, rich=False), CREATED_POST_KEYS)


def updated_post(data: ForumData, post: Post, viewer: User) -> Json:
    return {"post": _project(post_fields(data, post, viewer, rich=False), UPDATED_POST_KEYS)}


def shown_post(data: ForumData, post: Post, viewer: User | None) -> Json:
    return _project(post_fields(data, post, viewer), SHOWN_POST_KEYS)


def latest_posts(data: ForumData, posts: Iterable[Post], viewer: User | None) -> Json:
    return {
        "latest_posts": [
            _project(post_fields(data, p, viewer, rich=False), LATEST_POST_KEYS) for p in posts
        ]
    }


def enqueued(pending: PendingPost, pending_count: int) -> Json:
    """``POST /posts.json`` when the post waits for review: no ``post`` key at all."""
    return {
        "action": "enqueued",
        "pending_post": {"id": pending.id, "raw": pending.raw},
        "pending_count": pending_count,
        "success": True,
    }


# --- topics ----------------------------------------------------------------------------------


def _topic_stats(data: ForumData, topic: Topic) -> Json:
    live = _live_posts(data, topic.id)
    last = live[-1] if live else None
    return {
        "posts_count": len(live),
        "reply_count": max(len(live) - 1, 0),
        "like_count": sum(len(p.likes) for p in live),
        "last_posted_at": iso(last.created_at) if last else None,
        "highest_post_number": last.post_number if last else 0,
        "word_count": sum(len(p.raw.split()) for p in live),
        "participant_count": len({p.user_id for p in live}) or 1,
        "last_poster": data.users[last.user_id] if last else data.users[topic.user_id],
    }


def _pinning() -> Json:
    return {
        "pinned_globally": False,
        "pinned_at": None,
        "pinned_until": None,
        "unpinned": None,
        "pinned": False,
    }


def webhook_topic(data: ForumData, topic: Topic) -> Json:
    """The ``topic`` webhook payload (``WebHookTopicViewSerializer``, §1.6 key set)."""
    stats = _topic_stats(data, topic)
    deleter = data.users.get(topic.deleted_by_id or 0)
    return {
        "id": topic.id,
        "title": topic.title,
        "fancy_title": html.escape(topic.title, quote=False),
        "posts_count": stats["posts_count"],
        "created_at": iso(topic.created_at),
        "views": topic.views,
        "reply_count": stats["reply_count"],
        "like_count": stats["like_count"],
        "last_posted_at": stats["last_posted_at"],
        "visible": topic.visible,
        "closed": topic.closed,
        "archived": topic.archived,
        "archetype": topic.archetype,
        "slug": topic.slug,
        "category_id": topic.category_id,
        "word_count": stats["word_count"],
        "deleted_at": iso(topic.deleted_at) if topic.deleted_at else None,
        "user_id": topic.user_id,
        "featured_link": None,
        **_pinning(),
        "highest_post_number": stats["highest_post_number"],
        "deleted_by": basic_user(data, deleter) if deleter else None,
        "bookmarked": False,
        "participant_count": stats["participant_count"],
        "created_by": basic_user(data, data.users[topic.user_id]),
        "last_poster": basic_user(data, stats["last_poster"]),
        "tags": list(topic.tags),
        "tags_descriptions": {},
        "thumbnails": None,
        **PLUGIN_TOPIC_KEYS,
    }


def _tag_objects(data: ForumData, tags: Iterable[str]) -> list[Json]:
    return [{"id": data.tag_ids[t], "name": t, "slug": t} for t in tags]


def topic_view(data: ForumData, topic: Topic, viewer: User | None, chunk_size: int = 20) -> Json:
    """``GET /t/{id}.json``: the first ``chunk_size`` posts and every post id in the stream."""
    stats = _topic_stats(data, topic)
    staff = viewer is not None and viewer.staff
    shown = [p for p in data.topic_posts(topic.id) if p.deleted_at is None or staff]
    author = data.users[topic.user_id]
    participants = []
    for user_id in dict.fromkeys(p.user_id for p in shown):
        user = data.users[user_id]
        participants.append(
            {
                "id": user.id,
                "username": user.username,
                "name": user.name,
                "avatar_template": avatar_template(data, user),
                "post_count": sum(1 for p in shown if p.user_id == user.id),
                "primary_group_name": None,
                "flair_name": None,
                "flair_url": None,
                "flair_color": None,
                "flair_bg_color": None,
                "admin": user.admin,
                "moderator": user.moderator,
                "trust_level": user.trust_level,
            }
        )
    can_reply = viewer is not None and data.can_reply(viewer, topic)
    first = data.first_post(topic.id)
    return {
        "post_stream": {
            "posts": [
                _project(post_fields(data, p, viewer, rich=False), TOPIC_VIEW_POST_KEYS)
                for p in shown[:chunk_size]
            ],
            "stream": [p.id for p in shown],
        },
        "timeline_lookup": [[1, 0]],
        "suggested_topics": [],
        "tags": _tag_objects(data, topic.tags),
        "tags_descriptions": {},
        "id": topic.id,
        "title": topic.title,
        "fancy_title": html.escape(topic.title, quote=False),
        "posts_count": stats["posts_count"],
        "created_at": iso(topic.created_at),
        "views": topic.views,
        "reply_count": stats["reply_count"],
        "like_count": stats["like_count"],
        "last_posted_at": stats["last_posted_at"],
        "visible": topic.visible,
        "closed": topic.closed,
        "archived": topic.archived,
        "has_summary": False,
        "archetype": topic.archetype,
        "slug": topic.slug,
        "category_id": topic.category_id,
        "word_count": stats["word_count"],
        "deleted_at": iso(topic.deleted_at) if topic.deleted_at else None,
        "user_id": topic.user_id,
        "featured_link": None,
        "pinned_globally": False,
        "pinned_at": None,
        "pinned_until": None,
        "image_url": None,
        "slow_mode_seconds": 0,
        "draft": None,
        "draft_key": f"topic_{topic.id}",
        "draft_sequence": 0,
        "unpinned": None,
        "pinned": False,
        "current_post_number": 1,
        "highest_post_number": stats["highest_post_number"],
        "deleted_by": None,
        "has_deleted": any(p.deleted_at is not None for p in data.topic_posts(topic.id)),
        "actions_summary": [
            {"id": kind, "count": 0, "hidden": False, "can_act": viewer is not None}
            for kind in (4, 8, 10, 7)
        ],
        "chunk_size": chunk_size,
        "bookmarked": False,
        "bookmarks": [],
        "topic_timer": None,
        "message_bus_last_id": 0,
        "participant_count": stats["participant_count"],
        "show_read_indicator": False,
        "thumbnails": None,
        "slow_mode_enabled_until": None,
        "details": {
            "can_edit": viewer is not None
            and first is not None
            and data.can_edit_post(viewer, first),
            "notification_level": 1,
            "can_move_posts": staff,
            "can_delete": staff,
            "can_remove_allowed_users": staff,
            "can_create_post": can_reply,
            "can_reply_as_new_topic": can_reply,
            "can_invite_to": staff,
            "can_invite_via_email": staff,
            "can_flag_topic": viewer is not None,
            "can_convert_topic": staff,
            "can_review_topic": staff,
            "can_close_topic": staff,
            "can_archive_topic": staff,
            "can_split_merge_topic": staff,
            "can_edit_staff_notes": staff,
            "can_toggle_topic_visibility": staff,
            "can_pin_unpin_topic": staff,
            "can_moderate_category": staff,
            "can_remove_self_id": viewer.id if viewer is not None else 0,
            "participants": participants,
            "created_by": basic_user(data, author),
            "last_poster": basic_user(data, stats["last_poster"]),
        },
    }


def basic_topic(data: ForumData, topic: Topic) -> Json:
    """``PUT /t/-/{id}.json``: ``{"basic_topic": ...}``."""
    return {
        "basic_topic": {
            "id": topic.id,
            "title": topic.title,
            "fancy_title": html.escape(topic.title, quote=False),
            "slug": topic.slug,
            "posts_count": _topic_stats(data, topic)["posts_count"],
        }
    }


def latest_topics(data: ForumData, topics: list[Topic], viewer: User | None) -> Json:
    """``GET /latest.json``."""
    users: dict[int, User] = {}
    rows = []
    for topic in topics:
        stats = _topic_stats(data, topic)
        posters = list(dict.fromkeys(p.user_id for p in _live_posts(data, topic.id)))[:5]
        for user_id in posters:
            users[user_id] = data.users[user_id]
        rows.append(
            {
                "id": topic.id,
                "title": topic.title,
                "fancy_title": html.escape(topic.title, quote=False),
                "slug": topic.slug,
                "posts_count": stats["posts_count"],
                "reply_count": stats["reply_count"],
                "highest_post_number": stats["highest_post_number"],
                "image_url": None,
                "created_at": iso(topic.created_at),
                "last_posted_at": stats["last_posted_at"],
                "bumped": True,
                "bumped_at": iso(topic.bumped_at or topic.created_at),
                "archetype": topic.archetype,
                "unseen": False,
                "pinned": False,
                "unpinned": None,
                "visible": topic.visible,
                "closed": topic.closed,
                "archived": topic.archived,
                "bookmarked": False,
                "liked": False,
                "views": topic.views,
                "like_count": stats["like_count"],
                "has_summary": False,
                "last_poster_username": stats["last_poster"].username,
                "category_id": topic.category_id,
                "pinned_globally": False,
                "featured_link": None,
                "tags": list(topic.tags),
                "posters": [
                    {
                        "extras": "latest" if i == len(posters) - 1 else "",
                        "description": "Original Poster" if i == 0 else "Frequent Poster",
                        "user_id": user_id,
                        "primary_group_id": None,
                    }
                    for i, user_id in enumerate(posters)
                ],
            }
        )
    return {
        "users": [basic_user(data, u) for u in users.values()],
        "primary_groups": [],
        "topic_list": {
            "can_create_topic": viewer is not None,
            "draft": None,
            "draft_key": "new_topic",
            "draft_sequence": 0,
            "per_page": 30,
            "topics": rows,
        },
    }


# --- categories ------------------------------------------------------------------------------


def _category_counts(data: ForumData, category: Category) -> tuple[int, int]:
    topic_ids = {
        t.id for t in data.topics.values() if t.category_id == category.id and t.deleted_at is None
    }
    posts = sum(1 for p in data.posts.values() if p.topic_id in topic_ids and p.deleted_at is None)
    return len(topic_ids), posts


def _category_common(data: ForumData, category: Category, viewer: User | None) -> Json:
    topics, posts = _category_counts(data, category)
    create = viewer is not None and data.can_create_topic(viewer, category)
    return {
        "id": category.id,
        "name": category.name,
        "color": category.color,
        "text_color": "FFFFFF",
        "style_type": "square",
        "emoji": None,
        "icon": None,
        "slug": category.slug,
        "topic_count": topics,
        "post_count": posts,
        "position": category.position,
        "description": category.description,
        "description_text": category.description,
        "description_excerpt": category.description,
        "topic_url": None,
        "read_restricted": category.read_restricted,
        # The viewer's own create permission: 1 when they may open topics, else null.
        "permission": FULL if create else None,
        "notification_level": 1,
        "can_edit": viewer is not None and viewer.admin,
        "topic_template": None,
        "topic_title_placeholder": None,
        "has_children": False,
        "subcategory_count": None,
        "sort_order": None,
        "sort_ascending": None,
        "show_subcategory_list": False,
        "num_featured_topics": 3,
        "default_view": None,
        "subcategory_list_style": "rows_with_featured_topics",
        "default_top_period": "all",
        "default_list_filter": "all",
        "minimum_required_tags": 0,
        "navigate_to_first_post_after_read": False,
        "uploaded_logo": None,
        "uploaded_logo_dark": None,
        "uploaded_background": None,
        "uploaded_background_dark": None,
    }


def group_permissions(data: ForumData, category: Category) -> list[Json]:
    """``[{permission_type, group_name, group_id}]``; unrestricted means ``everyone: full``."""
    grants = category.permissions or {"everyone": FULL}
    return [
        {"permission_type": kind, "group_name": name, "group_id": data.groups[name].id}
        for name, kind in grants.items()
    ]


def visible_categories(data: ForumData, viewer: User | None) -> list[Category]:
    return sorted(
        (c for c in data.categories.values() if data.can_see_category(viewer, c)),
        key=lambda c: (c.position, c.id),
    )


def category_list(data: ForumData, viewer: User | None) -> Json:
    """``GET /categories.json``."""
    rows = []
    for category in visible_categories(data, viewer):
        row = _category_common(data, category, viewer)
        row.update(
            {
                "topics_day": 0,
                "topics_week": 0,
                "topics_month": 0,
                "topics_year": 0,
                "topics_all_time": row["topic_count"],
                "is_uncategorized": category.slug == "uncategorized",
                "subcategory_ids": [],
            }
        )
        rows.append(row)
    return {
        "category_list": {
            "can_create_category": viewer is not None and viewer.admin,
            "can_create_topic": viewer is not None,
            "categories": rows,
        }
    }


def category_show(data: ForumData, category: Category, viewer: User | None) -> Json:
    """``GET /c/{id}/show.json``; ``group_permissions`` only for those who may edit it (§5)."""
    row = _category_common(data, category, viewer)
    row.update(
        {
            "custom_fields": {},
            "form_template_ids": [],
            "allowed_tags": [],
            "allowed_tag_groups": [],
            "allow_global_tags": False,
            "required_tag_groups": [],
            "category_setting": {
                "auto_bump_cooldown_days": 1,
                "num_auto_bump_daily": None,
                "require_reply_approval": category.require_approval,
                "require_topic_approval": category.require_approval,
            },
            "read_only_banner": None,
            "available_groups": sorted(
                g.name for g in data.groups.values() if g.name not in category.permissions
            ),
            "auto_close_hours": None,
            "auto_close_based_on_last_post": False,
            "allow_unlimited_owner_edits_on_first_post": False,
            "default_slow_mode_seconds": None,
            "email_in": None,
            "email_in_allow_strangers": False,
            "mailinglist_mirror": False,
            "all_topics_wiki": False,
            "can_delete": viewer is not None and viewer.admin and row["topic_count"] == 0,
            "allow_badges": True,
            "topic_featured_link_allowed": True,
            "search_priority": 0,
            "topic_posting_review_group_ids": [],
            "reply_posting_review_group_ids": [],
        }
    )
    if viewer is not None and viewer.admin:
        row["group_permissions"] = group_permissions(data, category)
    return {"category": row}


# --- site ------------------------------------------------------------------------------------

_FLAG_TYPES = [
    (3, "off_topic", "It's Off-Topic"),
    (4, "inappropriate", "It's Inappropriate"),
    (8, "spam", "It's Spam"),
    (6, "notify_user", "Send @{{username}} a message"),
    (7, "notify_moderators", "Something Else"),
]


def _action_type(kind: int, key: str, name: str, *, flag: bool, position: int) -> Json:
    return {
        "id": kind,
        "name_key": key,
        "name": name,
        "description": name,
        "short_description": name,
        "is_flag": flag,
        "require_message": key in ("notify_user", "notify_moderators"),
        "enabled": True,
        "applies_to": ["Post", "Topic", "Chat::Message"] if flag else ["Post"],
        "is_used": False,
        "position": position,
        "auto_action_type": False,
        "system": True,
    }


def site(data: ForumData, viewer: User | None, uncategorized_id: int) -> Json:
    """``GET /site.json``: the parts of the site's settings a client needs, per the spec."""
    categories = []
    for category in visible_categories(data, viewer):
        row = _category_common(data, category, viewer)
        row.update(
            {"allow_global_tags": False, "required_tag_groups": [], "read_only_banner": None}
        )
        categories.append(row)
    flags = [
        _action_type(k, key, name, flag=True, position=i)
        for i, (k, key, name) in enumerate(_FLAG_TYPES)
    ]
    return {
        "default_archetype": "regular",
        "notification_types": _NOTIFICATION_TYPES,
        "post_types": {"regular": 1, "moderator_action": 2, "small_action": 3, "whisper": 4},
        "trust_levels": {"newuser": 0, "basic": 1, "member": 2, "regular": 3, "leader": 4},
        "groups": [
            {
                "id": g.id,
                "name": g.name,
                "flair_url": None,
                "flair_bg_color": None,
                "flair_color": None,
                "automatic": g.automatic,
            }
            for g in sorted(data.groups.values(), key=lambda g: g.id)
        ],
        "filters": ["latest", "unread", "new", "unseen", "top", "read", "posted", "bookmarks"],
        "homepage_choices": [],
        "periods": ["all", "yearly", "quarterly", "monthly", "weekly", "daily"],
        "top_menu_items": ["latest", "unread", "new", "unseen", "top", "categories"],
        "anonymous_top_menu_items": ["latest", "top", "categories"],
        "uncategorized_category_id": uncategorized_id,
        "user_field_max_length": 2048,
        "post_action_types": [
            _action_type(LIKE, "like", "Like", flag=False, position=0),
            *flags,
        ],
        "topic_flag_types": flags,
        "can_create_tag": viewer is not None and viewer.staff,
        "can_tag_topics": viewer is not None,
        "can_tag_pms": False,
        "tags_filter_regexp": "[/\\?#\\[\\]@!\\$&'\\(\\)\\*\\+,;=\\.%\\\\`^\\s|\\{\\}\"<>]+",
        "top_tags": _tag_objects(data, sorted(data.tag_ids)),
        "email_configured": False,
        "topic_featured_link_allowed_category_ids": [],
        "user_themes": [
            {"theme_id": 1, "name": "Default", "default": True, "color_scheme_id": None}
        ],
        "user_color_schemes": [],
        "default_light_color_scheme": None,
        "default_dark_color_scheme": None,
        "censored_regexp": [],
        "custom_emoji_translation": {},
        "watched_words_replace": None,
        "watched_words_link": None,
        "categories": categories,
        "archetypes": [{"id": "regular", "name": "Regular Topic", "options": []}],
        "user_fields": [],
        "auth_providers": [],
        "full_name_required_for_signup": False,
        "full_name_visible_in_signup": True,
    }


_NOTIFICATION_TYPES: Json = {
    name: number
    for number, name in enumerate(
        _keys(
            "mentioned replied quoted edited liked private_message invited_to_private_message "
            "invitee_accepted posted moved_post linked granted_badge invited_to_topic custom "
            "group_mentioned group_message_summary watching_first_post topic_reminder "
            "liked_consolidated post_approved code_review_commit_approved "
            "membership_request_accepted membership_request_consolidated bookmark_reminder "
            "reaction votes_released event_reminder event_invitation chat_mention chat_message "
            "chat_invitation chat_group_mention watching_category_or_tag linked_consolidated"
        ),
        start=1,
    )
}


# --- users -----------------------------------------------------------------------------------


def user_show(data: ForumData, user: User, viewer: User | None) -> Json:
    """``GET /u/{username}.json``: ``{user_badges, user}`` with the spec's required fields."""
    admin_view = viewer is not None and viewer.admin
    mine = viewer is not None and viewer.id == user.id
    member_of = [data.groups[name] for name in sorted(data.group_names(user) & data.groups.keys())]
    custom = [g for g in member_of if not g.automatic]
    last_post = max(
        (p.created_at for p in data.posts.values() if p.user_id == user.id), default=None
    )
    return {
        "user_badges": [],
        "user": {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "avatar_template": avatar_template(data, user),
            "last_posted_at": iso(last_post) if last_post else None,
            "last_seen_at": None,
            "created_at": iso(user.created_at),
            "ignored": False,
            "muted": False,
            "can_ignore_user": not mine,
            "can_mute_user": not mine,
            "can_send_private_messages": viewer is not None,
            "can_send_private_message_to_user": viewer is not None and not mine,
            "trust_level": user.trust_level,
            "moderator": user.moderator,
            "admin": user.admin,
            "title": user.title,
            "badge_count": 0,
            "custom_fields": {},
            "time_read": 0,
            "recent_time_read": 0,
            "primary_group_id": None,
            "primary_group_name": None,
            "flair_group_id": None,
            "flair_name": None,
            "flair_url": None,
            "flair_bg_color": None,
            "flair_color": None,
            "featured_topic": None,
            "staged": False,
            "can_edit": admin_view or mine,
            "can_edit_username": admin_view or mine,
            "can_edit_email": admin_view or mine,
            "can_edit_name": admin_view or mine,
            "uploaded_avatar_id": None,
            "has_title_badges": False,
            "pending_count": 0,
            "profile_view_count": 0,
            "second_factor_enabled": False,
            "can_upload_profile_header": admin_view or mine,
            "can_upload_user_card_background": admin_view or mine,
            "post_count": _user_post_count(data, user),
            "topic_count": _user_topic_count(data, user),
            "can_be_deleted": admin_view and not user.admin,
            "can_delete_all_posts": admin_view and not user.admin,
            "locale": None,
            "muted_category_ids": [],
            "regular_category_ids": [],
            "watched_tags": [],
            "watching_first_post_tags": [],
            "tracked_tags": [],
            "muted_tags": [],
            "tracked_category_ids": [],
            "watched_category_ids": [],
            "watched_first_post_category_ids": [],
            "system_avatar_upload_id": None,
            "system_avatar_template": avatar_template(data, user),
            "muted_usernames": [],
            "ignored_usernames": [],
            "allowed_pm_usernames": [],
            "mailing_list_posts_per_day": 0,
            "can_change_bio": True,
            "can_change_location": True,
            "can_change_website": True,
            "can_change_tracking_preferences": True,
            "user_api_keys": None,
            "user_auth_tokens": [],
            "user_notification_schedule": {
                "enabled": False,
                **{
                    f"day_{d}_{edge}_time": v
                    for d in range(7)
                    for edge, v in (("start", 480), ("end", 1020))
                },
            },
            "use_logo_small_as_avatar": False,
            "featured_user_badge_ids": [],
            "invited_by": None,
            "groups": [_user_group(g, user) for g in member_of],
            "group_users": [
                {"group_id": g.id, "user_id": user.id, "notification_level": 3} for g in custom
            ],
            "user_option": _user_option(user),
        },
    }


def _user_group(group: Any, user: User) -> Json:
    return {
        "id": group.id,
        "automatic": group.automatic,
        "name": group.name,
        "display_name": group.name,
        "user_count": 0,
        "mentionable_level": 0,
        "messageable_level": 0,
        "visibility_level": 0,
        "primary_group": False,
        "title": None,
        "grant_trust_level": None,
        "incoming_email": None,
        "has_messages": False,
        "flair_url": None,
        "flair_bg_color": None,
        "flair_color": None,
        "bio_raw": None,
        "bio_cooked": None,
        "bio_excerpt": None,
        "public_admission": False,
        "public_exit": False,
        "allow_membership_requests": False,
        "full_name": None,
        "default_notification_level": 3,
        "membership_request_template": None,
        "members_visibility_level": 0,
        "can_see_members": True,
        "can_admin_group": False,
        "publish_read_state": False,
    }


def _user_option(user: User) -> Json:
    return {
        "user_id": user.id,
        "mailing_list_mode": False,
        "mailing_list_mode_frequency": 1,
        "email_digests": True,
        "email_level": 1,
        "email_messages_level": 0,
        "external_links_in_new_tab": False,
        "color_scheme_id": None,
        "dark_scheme_id": None,
        "dynamic_favicon": False,
        "enable_quoting": True,
        "enable_smart_lists": True,
        "enable_markdown_monospace_font": False,
        "digest_after_minutes": 10080,
        "automatically_unpin_topics": True,
        "auto_track_topics_after_msecs": 240000,
        "notification_level_when_replying": 2,
        "new_topic_duration_minutes": 2880,
        "email_previous_replies": 2,
        "email_in_reply_to": False,
        "like_notification_frequency": 1,
        "notify_on_linked_posts": True,
        "push_notification_level": "always",
        "enable_upcoming_change_available_notifications": False,
        "include_tl0_in_digests": False,
        "theme_ids": [1],
        "theme_key_seq": 0,
        "allow_private_messages": True,
        "enable_allowed_pm_users": False,
        "homepage_id": None,
        "hide_profile_and_presence": False,
        "hide_profile": False,
        "hide_presence": False,
        "text_size": "normal",
        "text_size_seq": 0,
        "title_count_mode": "notifications",
        "timezone": None,
        "skip_new_user_tips": False,
        "topics_unread_when_closed": True,
        "interface_color_mode": 1,
        "automatically_translate": False,
        "understood_languages": [],
        "show_original_content": False,
        "send_shortcut": "ctrl_enter",
    }


def current_user(data: ForumData, user: User) -> Json:
    """``GET /session/current.json`` (not in the OpenAPI document; a small real subset)."""
    return {
        "current_user": {
            **basic_user(data, user),
            "admin": user.admin,
            "moderator": user.moderator,
            "staff": user.staff,
            "trust_level": user.trust_level,
            "groups": [
                {"id": data.groups[g].id, "name": g} for g in user.groups if g in data.groups
            ],
        }
    }


# --- uploads ---------------------------------------------------------------------------------


def upload_json(upload: Upload) -> Json:
    """``POST /uploads.json``; width and height are null for files that are not images."""
    short = f"{base62(upload.sha1)}.{upload.extension}"
    return {
        "id": upload.id,
        "url": upload.url,
        "original_filename": upload.original_filename,
        "filesize": len(upload.data),
        "width": upload.width,
        "height": upload.height,
        "thumbnail_width": upload.width,
        "thumbnail_height": upload.height,
        "extension": upload.extension,
        "short_url": f"upload://{short}",
        "short_path": f"/uploads/short-url/{short}",
        "retain_hours": None,
        "human_filesize": human_filesize(len(upload.data)),
        "dominant_color": None,
    }
