"""Schema migrations. Entry N (1-based) takes `PRAGMA user_version` from N-1
to N. Append only: never edit a migration that has shipped."""

from __future__ import annotations

# "INKU" — marks a SQLite file as an inkubator project.
APPLICATION_ID = 0x494E4B55

MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    CREATE TABLE settings (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        json TEXT NOT NULL
    );
    CREATE TABLE scenes (
        number INTEGER PRIMARY KEY,
        heading TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE characters (
        name TEXT PRIMARY KEY,
        json TEXT NOT NULL
    );
    CREATE TABLE shots (
        id TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        scene INTEGER NOT NULL REFERENCES scenes(number),
        number TEXT NOT NULL UNIQUE,
        json TEXT NOT NULL
    );
    CREATE TABLE lines (
        id TEXT PRIMARY KEY,
        shot_id TEXT NOT NULL REFERENCES shots(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        character TEXT NOT NULL,
        text TEXT NOT NULL,
        delivery TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE drafts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        step TEXT NOT NULL,
        target TEXT NOT NULL,
        version INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN
            ('pending', 'approved', 'rejected', 'stale', 'superseded')),
        cache_key TEXT NOT NULL,
        deps_key TEXT NOT NULL,
        upstream TEXT NOT NULL DEFAULT '[]',
        files TEXT NOT NULL DEFAULT '[]',
        data TEXT NOT NULL DEFAULT '{}',
        provenance TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        UNIQUE (step, target, version)
    );
    CREATE INDEX drafts_by_target ON drafts(step, target);
    CREATE INDEX drafts_by_cache ON drafts(cache_key);
    CREATE TABLE chat (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    -- Every change, in words, for `inkubator log` and the record.
    CREATE TABLE history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        what TEXT NOT NULL
    );
    """,
    # 2: structured payloads on chat messages (edit ops, proposed tool calls, draft ids).
    """
    ALTER TABLE chat ADD COLUMN data TEXT NOT NULL DEFAULT '{}';
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
