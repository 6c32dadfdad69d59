"""Every table module, imported once so ``SQLModel.metadata`` knows the whole schema.

Add one import line here when a room adds a table module (and an Alembic migration for it).
"""

from __future__ import annotations

from sqlmodel import SQLModel

import storage.models  # noqa: F401  calls, jobs, audit_log

metadata = SQLModel.metadata
