"""A forum post's media events in Matrix, and what each mirrored forum file is.

A post becomes one text event (the ``messages`` table) followed by one ``m.image`` / ``m.file``
event per upload in it; those extra events are kept here, per link and post, keyed by the
upload's URL, so that a retried delivery sends none of them twice and deleting the post redacts
them all.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import EventID, LinkName, PostID, RoomID, UserID
from bridges.store.db import Database

post_media = sa.table(
    "post_media",
    sa.column("id", sa.BigInteger),
    sa.column("link", sa.String),
    sa.column("post_id", sa.BigInteger),
    sa.column("source_url", sa.String),
    sa.column("room_id", sa.String),
    sa.column("event_id", sa.String),
    sa.column("sender", sa.String),
    sa.column("created_at", sa.Float),
)
media_info = sa.table(
    "media_info",
    sa.column("source_url", sa.String),
    sa.column("mimetype", sa.String),
    sa.column("size", sa.BigInteger),
    sa.column("width", sa.Integer),
    sa.column("height", sa.Integer),
)


@dataclass(frozen=True, slots=True)
class MediaEvent:
    """One media event carried for a forum post."""

    link: LinkName
    post_id: PostID
    source_url: str
    room_id: RoomID
    event_id: EventID
    sender: UserID


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """A mirrored file's type and size (and, for an image, its dimensions)."""

    mimetype: str
    size: int
    width: int | None = None
    height: int | None = None


def _event(row: sa.Row[tuple[object, ...]]) -> MediaEvent:
    m = row._mapping
    return MediaEvent(
        link=LinkName(m["link"]),
        post_id=PostID(int(m["post_id"])),
        source_url=str(m["source_url"]),
        room_id=RoomID(m["room_id"]),
        event_id=EventID(m["event_id"]),
        sender=UserID(m["sender"]),
    )


class PostMedia:
    """The ``post_media`` and ``media_info`` tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def for_post(self, link: LinkName, post_id: PostID) -> list[MediaEvent]:
        """The post's media events in this link, in the order they were sent."""
        query = (
            sa.select(post_media)
            .where(post_media.c.link == link, post_media.c.post_id == post_id)
            .order_by(post_media.c.id)
        )
        with self.db.read() as conn:
            return [_event(r) for r in conn.execute(query)]

    def for_event(self, room_id: RoomID, event_id: EventID) -> MediaEvent | None:
        query = sa.select(post_media).where(
            post_media.c.room_id == room_id, post_media.c.event_id == event_id
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _event(row)

    def add(self, event: MediaEvent, now: float) -> None:
        """Record a sent media event (a second record of the same upload is ignored)."""
        with self.db.begin() as conn:
            exists = conn.execute(
                sa.select(post_media.c.id).where(
                    post_media.c.link == event.link,
                    post_media.c.post_id == event.post_id,
                    post_media.c.source_url == event.source_url,
                )
            ).first()
            if exists is None:
                conn.execute(
                    sa.insert(post_media).values(
                        link=event.link,
                        post_id=event.post_id,
                        source_url=event.source_url,
                        room_id=event.room_id,
                        event_id=event.event_id,
                        sender=event.sender,
                        created_at=now,
                    )
                )

    def remove(self, room_id: RoomID, event_id: EventID) -> None:
        """Forget a media event (it was redacted)."""
        with self.db.begin() as conn:
            conn.execute(
                sa.delete(post_media).where(
                    post_media.c.room_id == room_id, post_media.c.event_id == event_id
                )
            )

    # --- what mirrored files are -------------------------------------------------------------

    def info(self, source_url: str) -> MediaInfo | None:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(media_info).where(media_info.c.source_url == source_url)
            ).first()
        if row is None:
            return None
        return MediaInfo(str(row.mimetype), int(row.size), row.width, row.height)

    def save_info(self, source_url: str, info: MediaInfo) -> None:
        values = {
            "mimetype": info.mimetype,
            "size": info.size,
            "width": info.width,
            "height": info.height,
        }
        with self.db.begin() as conn:
            updated = conn.execute(
                sa.update(media_info).where(media_info.c.source_url == source_url).values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(sa.insert(media_info).values(source_url=source_url, **values))
