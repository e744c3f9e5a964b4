"""The simulated camera behaves like a real one across restarts: it resumes, and never sends the same file twice."""

import hashlib
import itertools
import random

import cv2
import numpy as np

from camera_agents.simulator import _read_count, _write_count, camera_frames


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
