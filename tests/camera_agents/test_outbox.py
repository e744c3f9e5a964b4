"""The store-and-forward outbox: durable before it counts, one row per sha256, crash recovery, upload order, and the
disk quota's eviction policy (oldest non-flagged first, flagged kept longer, never the frame in flight)."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3

import pytest

from camera_agents.outbox import Outbox, OutboxFull

T0 = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.timezone.utc)


def _frame(i: int, size: int = 1000) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (size // 32)


def _add(ob: Outbox, i: int, *, flagged: bool = False, size: int = 1000):
    return ob.add(_frame(i, size), captured_at=T0 + dt.timedelta(minutes=i), flagged=flagged)[0]


def test_a_frame_is_on_disk_and_in_sqlite_when_add_returns(tmp_path):
    ob = Outbox(tmp_path)
    entry, created = ob.add(b"jpeg-bytes", captured_at=T0, edge={"model_sha256": "ab" * 32, "detections": []})
    assert created and entry.path.read_bytes() == b"jpeg-bytes"
    assert entry.path.name == hashlib.sha256(b"jpeg-bytes").hexdigest() + ".jpg"
    db = sqlite3.connect(tmp_path / "outbox.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT sha256, size FROM frames").fetchall() == [(entry.sha256, 10)]
    assert ob._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    again, created = ob.add(b"jpeg-bytes", captured_at=T0 + dt.timedelta(hours=1))
    assert not created and again.id == entry.id and ob.backlog() == 1
    assert ob.counters()["captured_total"] == 1
    assert Outbox(tmp_path).get(entry.id).edge == {"model_sha256": "ab" * 32, "detections": []}


def test_recovery_after_a_crash_removes_half_written_files_and_rows_without_a_file(tmp_path):
    ob = Outbox(tmp_path)
    keep = _add(ob, 1)
    lost = _add(ob, 2)
    ob.close()
    (tmp_path / "frames" / ".deadbeef.jpg.123.tmp").write_bytes(b"half")  # died before the rename
    (tmp_path / "frames" / ("ee" * 32 + ".jpg")).write_bytes(b"no row")  # died before the INSERT committed
    lost.path.unlink()  # the disk lost it
    ob = Outbox(tmp_path)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [keep.path.name]
    assert ob.backlog() == 1 and ob.counters()["lost_total"] == 1


def test_uploads_go_oldest_first_and_newest_first_above_the_backlog_threshold(tmp_path):
    ob = Outbox(tmp_path, newest_first_above=3)
    for i in (2, 0, 1):
        _add(ob, i)
    assert ob.next_due().captured_at == T0  # oldest first
    _add(ob, 3)
    assert ob.next_due().captured_at == T0 + dt.timedelta(minutes=3)  # 4 > 3 waiting: newest first
    first = ob.next_due()
    ob.uploaded(first)
    assert not first.path.exists() and ob.counters()["uploaded_total"] == 1
    assert ob.next_due().captured_at == T0  # back to 3: oldest first


def test_a_deferred_frame_waits_its_turn(tmp_path):
    now = [1000.0]
    ob = Outbox(tmp_path, clock=lambda: now[0])
    a, b = _add(ob, 0), _add(ob, 1)
    ob.defer(a, 30, "409 upload_missing", refusal=True)
    assert ob.next_due().id == b.id
    ob.uploaded(b)
    assert ob.next_due() is None and ob.next_attempt_at() == pytest.approx(1030)
    now[0] = 1031
    again = ob.next_due()
    assert again.id == a.id and again.refusals == 1 and again.attempts == 1


def test_quota_evicts_the_oldest_non_flagged_frames_first_and_keeps_flagged_ones_longer(tmp_path):
    ob = Outbox(tmp_path, quota_bytes=4000)
    flagged = _add(ob, 0, flagged=True)  # the oldest, but it has detections
    plain = [_add(ob, i) for i in (1, 2, 3)]
    _add(ob, 4)  # 5 × 1000 > 4000: one must go
    assert ob.get(flagged.id) is not None and ob.get(plain[0].id) is None and not plain[0].path.exists()
    assert ob.counters()["evicted_total"] == 1
    for i in (5, 6, 7):
        _add(ob, i)
    # only flagged or newer frames remain; then, with nothing else left, the flagged one goes too
    assert ob.get(flagged.id) is not None and ob.counters()["evicted_total"] == 4
    for i in (8, 9, 10, 11):
        _add(ob, i, flagged=True)
    assert ob.get(flagged.id) is None
    assert ob.used_bytes() <= 4000 and ob.backlog() == 4
    assert Outbox(tmp_path, quota_bytes=4000).counters()["evicted_total"] == 8  # kept across restarts


def test_the_frame_being_uploaded_is_never_evicted(tmp_path):
    ob = Outbox(tmp_path, quota_bytes=2000)
    a = _add(ob, 0)
    b = _add(ob, 1)
    ob.in_flight = a.id
    _add(ob, 2)
    assert ob.get(a.id) is not None and ob.get(b.id) is None


def test_a_frame_larger_than_the_quota_is_refused_without_evicting_anything(tmp_path):
    ob = Outbox(tmp_path, quota_bytes=1500)
    a = _add(ob, 0)
    with pytest.raises(OutboxFull):
        ob.add(_frame(9, 2000), captured_at=T0)
    assert ob.get(a.id) is not None and ob.counters()["evicted_total"] == 0


def test_min_free_disk_space_also_evicts(tmp_path, monkeypatch):
    ob = Outbox(tmp_path, quota_bytes=10**9, min_free_bytes=5000)
    free = [10_000]
    monkeypatch.setattr(ob, "_fs_free", lambda: free[0])
    a = _add(ob, 0)
    free[0] -= 1000
    _add(ob, 1)
    free[0] -= 1000
    _add(ob, 2)  # 8000 free, minus 1000 for this frame: 7000 ≥ 5000, nothing evicted yet
    free[0] = 5500
    _add(ob, 3)  # 5500 - 1000 < 5000: the oldest goes
    assert ob.get(a.id) is None and ob.counters()["evicted_total"] == 1
