"""A project is a folder: `project.sqlite` + `assets/` + `exports/`.

SQLite in WAL mode with foreign keys on; every change is one transaction; the
schema is versioned by `PRAGMA user_version` and migrated forward with a
backup taken first. Opening something that is not a healthy project of a
schema we know raises `ProjectError` and changes nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from . import lock, migrations
from .assets import AssetStore
from .errors import ProjectError, disk_full, is_disk_full
from .models import (
    BeatSheet,
    Character,
    ChatMessage,
    DialogueLine,
    Draft,
    DraftStatus,
    ProjectSettings,
    Provenance,
    Scene,
    Shot,
    Step,
    utcnow,
)

T = TypeVar("T")
DB_NAME = "project.sqlite"
PROJECT_TOML = "inkubator.toml"
DB_GROWTH = 2**20  # room a change to the database may want (pages and the log), for a full disk's message
GITIGNORE = ".work/\n*.sqlite-wal\n*.sqlite-shm\n*.bak\n"


def _half_made(p: Path) -> bool:
    """What a `create` killed part-way leaves: empty assets/ and exports/, the unfinished database."""
    if p.name.startswith(f"{DB_NAME}.new"):
        return True
    return p.name in ("assets", "exports") and p.is_dir() and not p.is_symlink() and not any(p.iterdir())


def _trouble(e: sqlite3.OperationalError, root: Path) -> ProjectError:
    """What SQLite's operational error means for the person: a full disk, a folder they may not
    write, or a disk that failed; never "damaged" (the file itself is fine)."""
    if is_disk_full(e):
        return disk_full(root, DB_GROWTH)
    if getattr(e, "sqlite_errorcode", None) in (8, 14, 23) or "readonly" in str(e):  # READONLY, CANTOPEN, AUTH
        return ProjectError(lock.read_only_message(root, str(e)))
    return ProjectError(f"cannot use {root / DB_NAME} ({e}); check the disk, then run this again")


def _one_fault(report: str) -> str:
    """SQLite's check report (many lines, headed `*** in database main ***`) as one line."""
    return " ".join(report.replace("*** in database main ***", "").split())[:160]


def _check_readable(db: Path) -> int:
    """Validate the database read-only; return its schema version."""
    # With no WAL beside it, nothing else has the file open: read it as immutable
    # so that checking creates no -wal/-shm files (opening must change nothing).
    wal = db.with_name(db.name + "-wal").exists()
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro{'' if wal else '&immutable=1'}", uri=True)
    except sqlite3.Error as e:  # pragma: no cover - permissions
        raise ProjectError(f"cannot open {db}: {e}") from e
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        check = con.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.OperationalError as e:  # the file may be fine: the disk, the permissions, a lock
        raise _trouble(e, db.parent) from None
    except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
        said = " ".join(str(e).split())[:160]
        raise ProjectError(f"{db} is damaged ({said}); restore it from a backup or version control") from None
    finally:
        con.close()
    if check != "ok":
        raise ProjectError(f"{db} is damaged ({_one_fault(check)}); restore it from a backup or version control")
    if app_id != migrations.APPLICATION_ID:
        raise ProjectError(f"{db} is not an inkubator project database; use `inkubator new DIR` for a new project")
    if version > migrations.SCHEMA_VERSION:
        raise ProjectError(
            f"{db.parent} was saved by a newer inkubator (schema {version}, this one knows "
            f"{migrations.SCHEMA_VERSION}); upgrade inkubator to open it"
        )
    return version


def _reader(db: Path) -> sqlite3.Connection:
    """A read-only connection. SQLite's WAL reader wants to create `-shm` beside the file; in a
    folder nobody may write (a read-only disk, someone else's project), the database is read as
    immutable instead, which is only right when the log holds nothing (closing empties it)."""
    uri = db.resolve().as_uri()
    con = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, timeout=30)
    try:
        con.execute("PRAGMA user_version").fetchone()
    except sqlite3.OperationalError as e:
        con.close()
        wal = db.with_name(db.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise ProjectError(f"{db.parent} is read-only here and its last changes are still in {wal.name}; "
                               f"copy the project to a folder you can write and open it there") from None
        if not os.access(db.parent, os.W_OK) or getattr(e, "sqlite_errorcode", None) == 14:  # CANTOPEN
            con = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, check_same_thread=False)
        else:
            raise _trouble(e, db.parent) from None
    con.row_factory = sqlite3.Row
    return con


class Store:
    """The project's persistent state. Safe to share between threads.

    A writer (the default) holds the project's writer lock until `close`; a reader
    (`write=False`) takes no lock, reads through a read-only connection and cannot change
    anything, so it can look at a project while another process works on it."""

    def __init__(self, root: Path, con: sqlite3.Connection, lock_key: Path | None = None):
        self.root = root
        self._con = con
        self._lock = threading.RLock()
        self._lock_key = lock_key
        self.assets = AssetStore(root / "assets")

    @property
    def writable(self) -> bool:
        return self._lock_key is not None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- opening -------------------------------------------------------
    @classmethod
    def create(cls, root: Path, settings: ProjectSettings | None = None) -> Store:
        """Make a new project. The database is built whole under a temporary name and renamed
        into place last, so a kill leaves either a project or a folder `create` can finish."""
        root = Path(root)
        if (root / DB_NAME).exists():
            raise ProjectError(f"{root} already holds a project; open it instead")
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root} is a file; give a folder for the new project")
        if root.exists() and any(p for p in root.iterdir() if not p.name.startswith(".") and not _half_made(p)):
            raise ProjectError(f"{root} is not empty; give a new or empty folder")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ProjectError(f"cannot make the folder {root} ({e.strerror}); choose a folder you can write") \
                from None
        key = lock.acquire(root)
        try:
            if (root / DB_NAME).exists():  # another process finished making it meanwhile
                raise ProjectError(f"{root} already holds a project; open it instead")
            for sub in ("assets", "exports"):
                (root / sub).mkdir(exist_ok=True)
            # A project is meant to live in git: keep scratch space and SQLite's side files out.
            (root / ".gitignore").write_text(GITIGNORE)
            for old in root.glob(f"{DB_NAME}.new*"):  # a kill's leftover from an earlier try
                old.unlink()
            fresh = root / f"{DB_NAME}.new"
            con = sqlite3.connect(fresh, isolation_level=None)  # rollback journal: no side files to move
            try:
                con.row_factory = sqlite3.Row
                con.execute("PRAGMA foreign_keys = ON")
                building = cls(root, con)
                building._migrate(0, log=False)
                with building.transaction() as c:
                    c.execute(f"PRAGMA application_id = {migrations.APPLICATION_ID}")
                    c.execute("INSERT INTO settings (id, json) VALUES (1, ?)",
                              ((settings or ProjectSettings()).model_dump_json(),))
                    building._log(c, "project created")
            finally:
                con.close()
            with open(fresh, "rb") as f:
                os.fsync(f.fileno())
            os.rename(fresh, root / DB_NAME)
            return cls._open_writer(root, root / DB_NAME, key)
        except BaseException:
            lock.release(key)
            raise

    @classmethod
    def open(cls, root: Path, *, write: bool = True) -> Store:
        """Open a project: as its one writer (taking the lock, migrating, tidying), or with
        `write=False` as a reader that changes nothing and waits for no one."""
        root = Path(root)
        if not root.exists():
            raise ProjectError(f"{root} does not exist; create a project with `inkubator new {root}`")
        db = root / DB_NAME
        if not root.is_dir() or not db.is_file():
            if root.is_dir() and any(_half_made(p) for p in root.iterdir()) \
                    and all(_half_made(p) or p.name.startswith(".") for p in root.iterdir()):
                raise ProjectError(f"{root} was left half-made by an interrupted `inkubator new`; "
                                   f"run `inkubator new {root}` again to finish it")
            raise ProjectError(f"{root} is not an inkubator project (no {DB_NAME}); create one with `inkubator new DIR`")
        if not write:
            if _check_readable(db) < migrations.SCHEMA_VERSION:  # a writer brings it up to date first
                cls.open(root).close()
            return cls(root, _reader(db))
        key = lock.acquire(root)
        try:
            return cls._open_writer(root, db, key)
        except BaseException:
            lock.release(key)
            raise

    @classmethod
    def _open_writer(cls, root: Path, db: Path, key: Path) -> Store:
        version = _check_readable(db)
        if version < migrations.SCHEMA_VERSION:
            backup = db.with_name(f"{DB_NAME}.v{version}.bak")
            ro = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
            try:
                dst = sqlite3.connect(backup)
                ro.backup(dst)
                dst.close()
            finally:
                ro.close()
        try:
            con = cls._connect(db)
        except sqlite3.OperationalError as e:
            raise _trouble(e, root) from None
        store = cls(root, con, key)
        try:
            store._migrate(version)
            store.assets.sweep_temporaries()
            store.checkpoint()  # a killed writer may have left everything in the WAL
        except sqlite3.OperationalError as e:
            con.close()
            raise _trouble(e, root) from None
        except BaseException:
            con.close()
            raise
        return store

    @staticmethod
    def _connect(db: Path) -> sqlite3.Connection:
        con = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=30)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("PRAGMA synchronous = NORMAL")
        return con

    def _migrate(self, current: int, log: bool = True) -> None:
        for n in range(current, migrations.SCHEMA_VERSION):
            with self.transaction() as c:
                for stmt in _split_sql(migrations.MIGRATIONS[n]):
                    c.execute(stmt)
                c.execute(f"PRAGMA user_version = {n + 1}")
                if log:
                    self._log(c, f"schema migrated to version {n + 1}")

    def checkpoint(self) -> None:
        """Fold the write-ahead log into `project.sqlite`, so that the file a person copies or
        commits (the project's .gitignore leaves out `-wal`) holds everything."""
        if self.writable:
            with self._lock:
                try:
                    self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.OperationalError as e:  # e.g. no room to grow the file: the log keeps it all
                    if not is_disk_full(e):
                        raise

    def close(self) -> None:
        """Checkpoint, close the database and let go of the writer lock; safe to call twice."""
        with self._lock:
            key, self._lock_key = self._lock_key, None
            if key is not None:
                try:
                    self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error:  # closing still closes; the next writer checkpoints
                    pass
            self._con.close()
            if key is not None:
                lock.release(key)

    @property
    def schema_version(self) -> int:
        return self._con.execute("PRAGMA user_version").fetchone()[0]

    def integrity_check(self) -> str:
        """SQLite's full check (opening runs the quick one): "ok", or the first fault in one line."""
        return _one_fault(self._q("PRAGMA integrity_check")[0][0])

    # ---- transactions --------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One change = one transaction; nested calls join the outer one."""
        with self._lock:
            if self._con.in_transaction:
                yield self._con
                return
            try:
                self._con.execute("BEGIN IMMEDIATE")
                try:
                    yield self._con
                    self._con.execute("COMMIT")
                except BaseException:
                    if self._con.in_transaction:
                        self._con.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as e:  # undone whole: the project stays as it was
                if is_disk_full(e) or "readonly" in str(e):
                    raise _trouble(e, self.root) from None
                raise

    def _q(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._con.execute(sql, args).fetchall()
            except sqlite3.OperationalError as e:
                if "decode" in str(e):  # bytes that are not UTF-8 where text belongs
                    raise self._damaged(f"text that is not UTF-8 ({e})") from None
                raise _trouble(e, self.root) from None
            except sqlite3.DatabaseError as e:
                raise self._damaged(str(e)) from None
            except UnicodeDecodeError as e:  # a damaged schema or row that no longer decodes
                raise self._damaged(f"text that is not UTF-8 ({e.reason})") from None

    def _damaged(self, what: str) -> ProjectError:
        return ProjectError(f"{self.root / DB_NAME} is damaged: {what}; restore it from a backup or version control")

    def _parse(self, table: str, key: Any, parse: Callable[[], T]) -> T:
        """One row's stored JSON, or a one-line ProjectError naming the row (never a traceback)."""
        try:
            return parse()
        except (ValueError, TypeError, KeyError, IndexError) as e:  # JSON, pydantic, shape, a renamed column
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise self._damaged(f"{table} row {key} does not read ({first[:120]})") from None

    @staticmethod
    def _log(c: sqlite3.Connection, what: str) -> None:
        c.execute("INSERT INTO history (at, what) VALUES (?, ?)", (utcnow(), what))

    def log(self, what: str) -> None:
        with self.transaction() as c:
            self._log(c, what)

    def history(self) -> list[tuple[str, str]]:
        return [(r["at"], r["what"]) for r in self._q("SELECT at, what FROM history ORDER BY id")]

    # ---- settings ------------------------------------------------------
    @property
    def settings(self) -> ProjectSettings:
        rows = self._q("SELECT json FROM settings")
        return self._parse("settings", 1, lambda: ProjectSettings.model_validate_json(rows[0]["json"]))

    def save_settings(self, settings: ProjectSettings) -> None:
        with self.transaction() as c:
            c.execute("UPDATE settings SET json = ? WHERE id = 1", (settings.model_dump_json(),))
            self._log(c, "settings changed")

    # ---- the working shot list ----------------------------------------
    def sheet(self) -> BeatSheet | None:
        """The approved, working beat sheet, or None before the first approval."""
        with self._lock:
            shots = self._q("SELECT id, json FROM shots ORDER BY position")
            if not shots:
                return None
            lines: dict[str, list[DialogueLine]] = {}
            for r in self._q("SELECT * FROM lines ORDER BY shot_id, position"):
                lines.setdefault(r["shot_id"], []).append(
                    DialogueLine(id=r["id"], character=r["character"], text=r["text"], delivery=r["delivery"]))
            out = []
            for r in shots:
                shot = self._parse("shots", r["id"], lambda: Shot.model_validate_json(r["json"]))
                shot.dialogue = lines.get(r["id"], [])
                out.append(shot)
            return BeatSheet(
                title=self.settings.title,
                scenes=[Scene(number=r["number"], heading=r["heading"])
                        for r in self._q("SELECT * FROM scenes ORDER BY number")],
                characters=[self._parse("characters", r["name"], lambda: Character.model_validate_json(r["json"]))
                            for r in self._q("SELECT name, json FROM characters ORDER BY rowid")],
                shots=out,
            )

    def replace_sheet(self, sheet: BeatSheet, why: str) -> None:
        """Make `sheet` the working shot list. Shots and lines must carry ids."""
        with self.transaction() as c:
            c.execute("DELETE FROM lines")
            c.execute("DELETE FROM shots")
            c.execute("DELETE FROM scenes")
            c.execute("DELETE FROM characters")
            for sc in sheet.scenes:
                c.execute("INSERT INTO scenes (number, heading) VALUES (?, ?)", (sc.number, sc.heading))
            for ch in sheet.characters:
                c.execute("INSERT INTO characters (name, json) VALUES (?, ?)", (ch.name, ch.model_dump_json()))
            for pos, shot in enumerate(sheet.shots):
                assert shot.id, "shots need ids before they are stored"
                body = shot.model_dump(mode="json", exclude={"dialogue"})
                c.execute("INSERT INTO shots (id, position, scene, number, json) VALUES (?, ?, ?, ?, ?)",
                          (shot.id, pos, shot.scene, shot.number, json.dumps(body)))
                for lpos, line in enumerate(shot.dialogue):
                    c.execute("INSERT INTO lines (id, shot_id, position, character, text, delivery) "
                              "VALUES (?, ?, ?, ?, ?, ?)",
                              (line.id, shot.id, lpos, line.character, line.text, line.delivery))
            if sheet.notes:  # the notes' directions to the crew join the style bible, once each
                s = self.settings
                bible = s.style_bible.splitlines()
                added = [n for n in sheet.notes if n not in bible]
                if added:
                    s.style_bible = "\n".join([*bible, *added])[:4000]
                    c.execute("UPDATE settings SET json = ? WHERE id = 1", (s.model_dump_json(),))
            if sheet.title:
                s = self.settings
                if s.title != sheet.title and s.title in ("Untitled", self.root.resolve().name):  # a default
                    s.title = sheet.title
                    c.execute("UPDATE settings SET json = ? WHERE id = 1", (s.model_dump_json(),))
            self._log(c, why)

    # ---- drafts ---------------------------------------------------------
    def add_draft(self, *, step: Step, target: str, cache_key: str, deps_key: str,
                  provenance: Provenance, files: list[str] = (), data: dict[str, Any] | None = None,
                  upstream: list[int] = (), status: DraftStatus = DraftStatus.PENDING) -> Draft:
        with self.transaction() as c:
            version = c.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM drafts WHERE step = ? AND target = ?",
                                (step.value, target)).fetchone()[0]
            cur = c.execute(
                "INSERT INTO drafts (step, target, version, status, cache_key, deps_key, upstream, files, data,"
                " provenance, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (step.value, target, version, status.value, cache_key, deps_key, json.dumps(list(upstream)),
                 json.dumps(list(files)), json.dumps(data or {}), provenance.model_dump_json(), utcnow()))
            self._log(c, f"draft {cur.lastrowid}: {step.value} {target} v{version} created")
            return self.draft(cur.lastrowid)

    def _draft(self, r: sqlite3.Row) -> Draft:
        return self._parse("drafts", r["id"], lambda: Draft(
            id=r["id"], step=r["step"], target=r["target"], version=r["version"], status=r["status"],
            cache_key=r["cache_key"], deps_key=r["deps_key"], upstream=json.loads(r["upstream"]),
            files=json.loads(r["files"]), data=json.loads(r["data"]),
            provenance=Provenance.model_validate_json(r["provenance"]), note=r["note"], created_at=r["created_at"]))

    def draft(self, draft_id: int) -> Draft:
        rows = self._q("SELECT * FROM drafts WHERE id = ?", (draft_id,))
        if not rows:
            raise ProjectError(f"no draft {draft_id} in this project; `inkubator status` lists them")
        return self._draft(rows[0])

    def drafts(self, step: Step | None = None, target: str | None = None,
               status: DraftStatus | tuple[DraftStatus, ...] | None = None) -> list[Draft]:
        sql, args = "SELECT * FROM drafts WHERE 1=1", []
        if step is not None:
            sql += " AND step = ?"
            args.append(Step(step).value)
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if status is not None:
            wanted = (status,) if isinstance(status, DraftStatus) else status
            sql += f" AND status IN ({','.join('?' * len(wanted))})"
            args.extend(s.value for s in wanted)
        return [self._draft(r) for r in self._q(sql + " ORDER BY id", tuple(args))]

    def find_cached(self, cache_key: str) -> Draft | None:
        """The newest draft made from exactly these inputs whose files still exist."""
        for r in reversed(self._q("SELECT * FROM drafts WHERE cache_key = ? ORDER BY id", (cache_key,))):
            d = self._draft(r)
            if all(self.assets.path(f).exists() for f in d.files):
                return d
        return None

    def set_status(self, draft_id: int, status: DraftStatus, *, note: str | None = None,
                   provenance: Provenance | None = None, why: str = "") -> None:
        with self.transaction() as c:
            c.execute("UPDATE drafts SET status = ? WHERE id = ?", (status.value, draft_id))
            if note is not None:
                c.execute("UPDATE drafts SET note = ? WHERE id = ?", (note, draft_id))
            if provenance is not None:
                c.execute("UPDATE drafts SET provenance = ? WHERE id = ?", (provenance.model_dump_json(), draft_id))
            self._log(c, why or f"draft {draft_id}: {status.value}")

    # ---- chat ------------------------------------------------------------
    def add_message(self, role: str, text: str, data: dict[str, Any] | None = None) -> ChatMessage:
        with self.transaction() as c:
            at = utcnow()
            cur = c.execute("INSERT INTO chat (role, text, created_at, data) VALUES (?, ?, ?, ?)",
                            (role, text, at, json.dumps(data or {})))
            return ChatMessage(id=cur.lastrowid, role=role, text=text, created_at=at, data=data or {})

    def set_message_data(self, message_id: int, data: dict[str, Any]) -> None:
        with self.transaction() as c:
            c.execute("UPDATE chat SET data = ? WHERE id = ?", (json.dumps(data), message_id))

    def messages(self) -> list[ChatMessage]:
        return [ChatMessage(id=r["id"], role=r["role"], text=r["text"], created_at=r["created_at"],
                            data=self._parse("chat", r["id"], lambda: json.loads(r["data"])))
                for r in self._q("SELECT * FROM chat ORDER BY id")]


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.executescript would commit)."""
    out, buf = [], []
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        buf.append(line)
        joined = "\n".join(buf)
        if joined.rstrip().endswith(";") and sqlite3.complete_statement(joined):
            out.append(joined.strip())
            buf = []
    if "".join(buf).strip():
        out.append("\n".join(buf).strip())
    return out

