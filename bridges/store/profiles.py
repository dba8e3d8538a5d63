"""What porch already did on the homeserver: registered ghosts, their profiles, uploaded media.

Kept so that a restart does not re-register every ghost or re-upload every avatar.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import ContentURI, UserID
from bridges.store.db import Database

ghosts = sa.table(
    "ghosts",
    sa.column("user_id", sa.String),
    sa.column("displayname", sa.String),
    sa.column("avatar_source", sa.Text),
    sa.column("avatar_url", sa.String),
    sa.column("registered_at", sa.Float),
)
media = sa.table(
    "media",
    sa.column("source_url", sa.String),
    sa.column("content_uri", sa.String),
    sa.column("created_at", sa.Float),
)


@dataclass(frozen=True, slots=True)
class Ghost:
    user_id: UserID
    displayname: str | None
    avatar_source: str | None
    avatar_url: ContentURI | None


class Profiles:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ghost(self, user_id: UserID) -> Ghost | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(ghosts).where(ghosts.c.user_id == user_id)).first()
        if row is None:
            return None
        return Ghost(
            UserID(row.user_id),
            row.displayname,
            row.avatar_source,
            None if row.avatar_url is None else ContentURI(row.avatar_url),
        )

    def save_ghost(self, ghost: Ghost, now: float) -> None:
        """Insert or update a ghost's record (the latest save wins).

        One statement, so two workers saving the same new ghost at once cannot both insert it.
        """
        values = {
            "displayname": ghost.displayname,
            "avatar_source": ghost.avatar_source,
            "avatar_url": ghost.avatar_url,
        }
        insert = self.db.insert(ghosts).values(user_id=ghost.user_id, registered_at=now, **values)
        with self.db.begin() as conn:
            conn.execute(insert.on_conflict_do_update(index_elements=["user_id"], set_=values))

    def media_for(self, source_url: str) -> ContentURI | None:
        with self.db.read() as conn:
            uri = conn.execute(
                sa.select(media.c.content_uri).where(media.c.source_url == source_url)
            ).scalar()
        return None if uri is None else ContentURI(uri)

    def save_media(self, source_url: str, content_uri: ContentURI, now: float) -> None:
        """Remember an upload; the first one recorded for ``source_url`` stays (another
        worker may have uploaded the same file at the same moment)."""
        insert = self.db.insert(media).values(
            source_url=source_url, content_uri=content_uri, created_at=now
        )
        with self.db.begin() as conn:
            conn.execute(insert.on_conflict_do_nothing(index_elements=["source_url"]))
