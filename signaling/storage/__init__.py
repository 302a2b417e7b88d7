"""Persistence: SQLAlchemy 2 (async) tables, Alembic migrations, and small stores.

SQLite file by default, Postgres by URL. Ephemeral by design: only what an operator needs
(match records, and what later features add) is stored; chat text is not.
"""

from signaling.storage.db import Database
from signaling.storage.matches import MatchStore

__all__ = ["Database", "MatchStore"]
