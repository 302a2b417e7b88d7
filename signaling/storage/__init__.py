"""Persistence: SQLAlchemy 2 (async) tables, Alembic migrations, and small stores.

SQLite file by default, Postgres by URL. Ephemeral by design: only what an operator needs
(match records, moderation evidence, bans and review items) is stored; chat text is not,
unless it is evidence.
"""

from signaling.storage.db import Database
from signaling.storage.matches import MatchStore
from signaling.storage.moderation import SqlModerationStore
from signaling.storage.sessions import VisitorSessionStore

__all__ = ["Database", "MatchStore", "SqlModerationStore", "VisitorSessionStore"]
