"""Forum -> chat edits: who made an edit, so that only the author's are carried.

A ``post_edited`` webhook names the post's author, never the editor. The forum's revision
record does: revision ``n`` made version ``n`` of the post (``PostRevision.number``), and its
``username`` is the editor's. A post still at version 1 was only ever edited by its author,
within the grace period (an edit by anyone else always starts a new version, PostRevisor's
``should_create_new_version?``), so it needs no question.

Asking for the revision of the webhook's own version, not the latest, keeps the answer right
when the event is handled late, after later edits. A forum that is down or throttling raises
(the event waits, :class:`bridges.worker.RetryLater` via the relay); an answer that cannot name
the editor refuses the edit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bridges.discourse.client import ForumClient
from bridges.discourse.forum_errors import ForumAuthError
from bridges.model import ForumPost
from policies.decision import Decision
from policies.edits import edit_by

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ForeignEdit:
    """An edit not carried: the refusal, and who made the edit (``porch`` when unknown)."""

    decision: Decision
    editor: str


def foreign_edit(forum: ForumClient, post: ForumPost) -> ForeignEdit | None:
    """The refusal of ``post``'s edit when someone other than its author made it, else None.

    Raises:
        ForumRateLimited, ForumUnavailable: the forum cannot say now; ask again later.
    """
    if post.version <= 1:
        return None
    try:
        editor = forum.revision_editor(post.post_id, post.version)
    except ForumAuthError as exc:
        # Porch's account may not see the edit history (a hidden revision, a forum that
        # hides it from non-staff): the editor stays unknown, and unknown is not the author.
        log.warning("relay: who edited post %s is not visible to porch: %s", post.post_id, exc)
        editor = None
    decision = edit_by(post.author.username, editor)
    if decision is None:
        return None
    return ForeignEdit(decision, editor or "porch")
