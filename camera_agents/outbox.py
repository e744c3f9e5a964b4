"""Store-and-forward outbox: every frame is on disk (fsync'd file + fsync'd directory) and recorded in SQLite (WAL,
``synchronous=FULL``) before it counts as captured; uploads take frames out of it.

Crash safety, in the order things are written:

- ``add``: file to a temp name → fsync → rename to ``<sha256>.<ext>`` → fsync the folder → INSERT (committed). A crash
  before the commit leaves a file without a row: ``recover`` removes it (the frame never counted as captured).
- ``uploaded`` / ``evict``: DELETE (committed, counters in the same transaction) → unlink. A crash in between leaves
  an orphan file, removed by ``recover``.
- one row per sha256: the same bytes captured twice are kept once.

Disk quota: before a frame is added, the oldest frames are evicted until the outbox fits ``quota_bytes`` and the file
system keeps ``min_free_bytes`` free — non-flagged frames first (oldest first), flagged frames (edge detections)
only when nothing else is left. The frame being uploaded is never evicted. ``evicted_total`` is kept in the
database and reported in the heartbeat.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("cropwatch.agent.outbox")

SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT NOT NULL UNIQUE,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    captured_at TEXT NOT NULL,
    captured_ts REAL NOT NULL,
    kind TEXT NOT NULL DEFAULT 'frame',
    flagged INTEGER NOT NULL DEFAULT 0,
    edge TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    refusals INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_frames_captured ON frames (captured_ts);
CREATE INDEX IF NOT EXISTS ix_frames_evict ON frames (flagged, captured_ts);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
COUNTERS = ("captured_total", "uploaded_total", "evicted_total", "refused_total", "lost_total", "duplicate_total")


class OutboxFull(RuntimeError):
    """The frame does not fit the quota even with everything else evicted."""


@dataclass(frozen=True)
class Entry:
    id: int
    sha256: str
    path: Path
    size: int
    captured_at: dt.datetime
    kind: str
    flagged: bool
    edge: dict[str, Any] | None
    attempts: int
    refusals: int

    def read(self) -> bytes:
        return self.path.read_bytes()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that after this returns it survives a power cut (temp file, fsync, rename,
    fsync of the folder)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Outbox:
    def __init__(
        self,
        root: str | Path,
        *,
        quota_bytes: int = 2 << 30,
        min_free_bytes: int = 0,
        newest_first_above: int = 500,
        clock=time.time,
    ) -> None:
        self.root = Path(root)
        self.frames_dir = self.root / "frames"
        self.frames_dir.mkdir(parents=True, exist_ok=True)
        self.quota_bytes, self.min_free_bytes = int(quota_bytes), int(min_free_bytes)
        self.newest_first_above = newest_first_above
        self.clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.root / "outbox.db", check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._db.executemany("INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)", [(c,) for c in COUNTERS])
        self.in_flight: int | None = None
        self.recover()

    # -- housekeeping -------------------------------------------------------------------------------------------
    def recover(self) -> None:
        """Make files and rows agree after a crash or power cut: files without a row are removed (never captured);
        rows whose file is gone are dropped and counted as lost."""
        with self._lock:
            rows = {r[0]: r[1] for r in self._db.execute("SELECT file, id FROM frames")}
            for p in self.frames_dir.iterdir():
                if p.name not in rows:
                    log.info("removing %s left by an interrupted write or delete", p.name)
                    p.unlink(missing_ok=True)
            missing = [rid for name, rid in rows.items() if not (self.frames_dir / name).exists()]
            if missing:
                log.error("%d outbox frame(s) lost their file (disk trouble?); dropped", len(missing))
                self._tx(
                    lambda c: (
                        c.executemany("DELETE FROM frames WHERE id = ?", [(i,) for i in missing]),
                        self._bump(c, "lost_total", len(missing)),
                    )
                )

    def _tx(self, fn):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                out = fn(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return out

    @staticmethod
    def _bump(c: sqlite3.Connection, name: str, n: int = 1) -> None:
        c.execute("UPDATE counters SET value = value + ? WHERE name = ?", (n, name))

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT name, value FROM counters").fetchall())

    def backlog(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM frames").fetchone()[0]

    def used_bytes(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COALESCE(SUM(size), 0) FROM frames").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- capture side -------------------------------------------------------------------------------------------
    def _fs_free(self) -> int:
        return shutil.disk_usage(self.frames_dir).free

    def _make_room(self, size: int) -> None:
        if size > self.quota_bytes:
            raise OutboxFull(f"a {size}-byte frame is larger than the whole quota ({self.quota_bytes} bytes)")
        used = self.used_bytes()
        free = self._fs_free() if self.min_free_bytes else None
        while used + size > self.quota_bytes or (free is not None and free - size < self.min_free_bytes):
            victim = self._db.execute(
                "SELECT id, file, size, flagged FROM frames WHERE id IS NOT ? ORDER BY flagged, captured_ts, id "
                "LIMIT 1",
                (self.in_flight,),
            ).fetchone()
            if victim is None:
                raise OutboxFull(
                    f"no room for a {size}-byte frame (quota {self.quota_bytes} bytes, "
                    f"{free if free is not None else '?'} bytes free on disk)"
                )
            vid, name, vsize, flagged = victim
            self._tx(
                lambda c, vid=vid: (
                    c.execute("DELETE FROM frames WHERE id = ?", (vid,)),
                    self._bump(c, "evicted_total"),
                )
            )
            (self.frames_dir / name).unlink(missing_ok=True)
            log.warning(
                "outbox over quota: evicted %s frame %s (%d bytes)", "flagged" if flagged else "the oldest", name, vsize
            )
            used -= vsize
            if free is not None:
                free += vsize

    def add(
        self,
        data: bytes,
        *,
        captured_at: dt.datetime,
        ext: str = "jpg",
        kind: str = "frame",
        flagged: bool = False,
        edge: dict[str, Any] | None = None,
    ) -> tuple[Entry, bool]:
        """Store a frame durably; returns (entry, created). ``created`` is False for bytes already in the outbox.
        Raises OutboxFull when it cannot fit."""
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            existing = self._get_by_sha(sha)
            if existing is not None:
                return existing, False
            self._make_room(len(data))
            name = f"{sha}.{ext}"
            durable_write(self.frames_dir / name, data)
            when = captured_at if captured_at.tzinfo else captured_at.replace(tzinfo=dt.timezone.utc)

            def insert(c: sqlite3.Connection) -> int:
                cur = c.execute(
                    "INSERT INTO frames (sha256, file, size, captured_at, captured_ts, kind, flagged, edge, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        sha,
                        name,
                        len(data),
                        when.isoformat(),
                        when.timestamp(),
                        kind,
                        int(flagged),
                        json.dumps(edge) if edge is not None else None,
                        self.clock(),
                    ),
                )
                self._bump(c, "captured_total")
                return cur.lastrowid

            self._tx(insert)
            return self._get_by_sha(sha), True

    # -- upload side --------------------------------------------------------------------------------------------
    _COLS = "id, sha256, file, size, captured_at, kind, flagged, edge, attempts, refusals"

    def _entry(self, row: tuple | None) -> Entry | None:
        if row is None:
            return None
        rid, sha, name, size, when, kind, flagged, edge, attempts, refusals = row
        return Entry(
            rid,
            sha,
            self.frames_dir / name,
            size,
            dt.datetime.fromisoformat(when),
            kind,
            bool(flagged),
            json.loads(edge) if edge else None,
            attempts,
            refusals,
        )

    def _get_by_sha(self, sha: str) -> Entry | None:
        return self._entry(self._db.execute(f"SELECT {self._COLS} FROM frames WHERE sha256 = ?", (sha,)).fetchone())

    def get(self, frame_id: int) -> Entry | None:
        with self._lock:
            return self._entry(
                self._db.execute(f"SELECT {self._COLS} FROM frames WHERE id = ?", (frame_id,)).fetchone()
            )

    def next_due(self, now: float | None = None) -> Entry | None:
        """The next frame to upload: oldest first, newest first while the backlog is above ``newest_first_above``
        (after a long outage the farmer sees today's pictures first; the old ones follow)."""
        now = self.clock() if now is None else now
        with self._lock:
            order = "DESC" if self.backlog() > self.newest_first_above else "ASC"
            return self._entry(
                self._db.execute(
                    f"SELECT {self._COLS} FROM frames WHERE next_attempt <= ? ORDER BY captured_ts {order}, id {order} "
                    "LIMIT 1",
                    (now,),
                ).fetchone()
            )

    def next_attempt_at(self) -> float | None:
        with self._lock:
            return self._db.execute("SELECT MIN(next_attempt) FROM frames").fetchone()[0]

    def uploaded(self, entry: Entry, *, duplicate: bool = False) -> None:
        def done(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM frames WHERE id = ?", (entry.id,))
            self._bump(c, "uploaded_total")
            if duplicate:
                self._bump(c, "duplicate_total")

        self._tx(done)
        entry.path.unlink(missing_ok=True)

    def defer(self, entry: Entry, delay_s: float, error: str, *, refusal: bool = False) -> None:
        self._tx(
            lambda c: c.execute(
                "UPDATE frames SET attempts = attempts + 1, refusals = refusals + ?, next_attempt = ?, last_error = ? "
                "WHERE id = ?",
                (int(refusal), self.clock() + delay_s, error[:500], entry.id),
            )
        )

    def drop(self, entry: Entry, reason: str) -> None:
        """The server refused the frame for good: remove it (logged, counted as refused)."""
        log.error("dropping frame %s captured %s: %s", entry.sha256[:12], entry.captured_at.isoformat(), reason)
        self._tx(lambda c: (c.execute("DELETE FROM frames WHERE id = ?", (entry.id,)), self._bump(c, "refused_total")))
        entry.path.unlink(missing_ok=True)

    def strip_edge(self, entry: Entry) -> None:
        """Send this frame without its edge detections (the server does not know the model that made them)."""
        self._tx(lambda c: c.execute("UPDATE frames SET edge = NULL WHERE id = ?", (entry.id,)))
