"""Whose edits cross: only the original author's (issue 3, "Edits both ways").

A copy in the other place is the author's words under the author's name; an edit by someone
else (a moderator, a wiki editor) would put their words there under it. Such an edit stays
where it was made, and the copy keeps what the author wrote. Pure: the caller finds out who
made the edit.
"""

from __future__ import annotations

from policies.crossing import BUILTIN_VERSION
from policies.decision import Decision, Outcome

#: The rule a refused edit is recorded under.
NOT_AUTHOR = "edit:not-author"


def edit_by(author: str, editor: str | None) -> Decision | None:
    """None when ``editor`` is the author (the edit may be carried), else the refusal.

    Usernames compare case-insensitively (forum usernames do). ``editor`` None means the
    platform could not say who made the edit: refused, never guessed to be the author.
    """
    if editor is not None and editor.casefold() == author.casefold():
        return None
    if editor is None:
        why = f"the forum does not say who made this edit of {author}'s post; not carried"
    else:
        why = f"{editor} edited {author}'s post; only the author's edits are carried"
    return Decision(Outcome.REFUSED, NOT_AUTHOR, BUILTIN_VERSION, why)
