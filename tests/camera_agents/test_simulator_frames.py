"""The simulated camera behaves like a real one across restarts: it resumes, and never sends the same file twice."""

import datetime as dt
import hashlib
import itertools
import random

import cv2
import numpy as np

from camera_agents.simulator import _read_count, _write_count, camera_frames, card_per_day, first_day


def _photos(tmp_path, n=3):
    paths = []
    for i in range(n):
        img = np.full((64, 96, 3), 40 * (i + 1), np.uint8)
        cv2.circle(img, (30 + 10 * i, 30), 12, (0, 200, 0), -1)
        p = tmp_path / f"p{i}.jpg"
        cv2.imwrite(str(p), img)
        paths.append(p)
    return paths


def _sha(item):
    data = item[1] if isinstance(item, tuple) else item.read_bytes()
    return hashlib.sha256(data).hexdigest()


def test_frames_after_the_first_pass_are_new_shots_of_the_same_scenes(tmp_path):
    paths = _photos(tmp_path)
    frames = list(itertools.islice(camera_frames(paths, random.Random(1)), 9))
    shas = [_sha(f) for f in frames]
    assert len(set(shas)) == 9, "a re-shot frame must not be byte-identical to an earlier one"
    assert all(not isinstance(f, tuple) for f in frames[:3])
    for _, data in frames[3:]:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == (64, 96, 3)


def test_a_restarted_camera_resumes_instead_of_replaying(tmp_path):
    paths = _photos(tmp_path)
    state = tmp_path / "cam.sent"
    assert _read_count(state) == 0
    whole = [_sha(f) for f in itertools.islice(camera_frames(paths, random.Random(7)), 8)]
    _write_count(state, 5)
    resumed = [_sha(f) for f in itertools.islice(camera_frames(paths, random.Random(7), skip=_read_count(state)), 3)]
    assert resumed == whole[5:8]


def test_a_trap_camera_shoots_one_card_all_day_and_the_next_card_the_next_day(tmp_path):
    cards = _photos(tmp_path)
    day = [dt.date(2026, 12, 1)]
    frames = card_per_day(cards, today=lambda: day[0], start=dt.date(2026, 12, 1))
    monday = [next(frames) for _ in range(4)]
    assert {path for path, _ in monday} == {cards[0]}, "a trap photographs the same card all day"
    assert len({hashlib.sha256(data).digest() for _, data in monday}) == 4, "each shot is a new file"
    day[0] = dt.date(2026, 12, 2)
    assert next(frames)[0] == cards[1]
    day[0] = dt.date(2026, 12, 4)
    assert next(frames)[0] == cards[0], "after the last card, the first again"


def test_a_restarted_trap_camera_keeps_the_day_it_started(tmp_path):
    state = tmp_path / "trap.sent"
    assert first_day(state, dt.date(2026, 12, 1)) == dt.date(2026, 12, 1)
    assert first_day(state, dt.date(2026, 12, 3)) == dt.date(2026, 12, 1)
