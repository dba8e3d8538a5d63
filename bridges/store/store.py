"""One object that opens the database, migrates it and hands out its tables."""

from __future__ import annotations

from bridges.store.audit import AuditLog
from bridges.store.db import Database
from bridges.store.identities import Identities
from bridges.store.inbox import Inbox
from bridges.store.mapping import Mapping
from bridges.store.policy_rules import PolicyRules
from bridges.store.profiles import Profiles
from bridges.store.review import ReviewQueue
from bridges.store.sanction_records import Sanctions
from bridges.store.tier_records import TierRecords


class Store:
    """Porch's state. ``open`` applies pending migrations before anything else touches it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.inbox = Inbox(db)
        self.mapping = Mapping(db)
        self.identities = Identities(db)
        self.audit = AuditLog(db)
        self.profiles = Profiles(db)
        self.tiers = TierRecords(db)
        self.review = ReviewQueue(db)
        self.policy_rules = PolicyRules(db)
        self.sanctions = Sanctions(db)

    @classmethod
    def open(cls, url: str, pool_size: int = 5) -> Store:
        db = Database(url, pool_size=pool_size)
        db.migrate()
        return cls(db)

    def close(self) -> None:
        self.db.close()
