"""A camera's episodes written by the LeRobot video writer decode to the recorded frames at the
timestamps it reports, in one file or (past the size limit) one file per episode."""

import os

import numpy as np
import pytest

from bc_ros.core.data.lerobot_video import VideoWriter, check_encoder, video_info
from test.core.data.test_lerobot import decode

KEY = "observation.images.front"


def episode(n, base, h=16, w=16):
    return np.stack([np.full((h, w, 3), base + 30 * t, np.uint8) for t in range(n)])


def test_codec_names_map_to_encoders_and_unknown_ones_are_refused():
    assert check_encoder("h264") == "libx264"
    with pytest.raises(ValueError, match="codec must be one of.*got 'mjpeg'"):
        check_encoder("mjpeg")


def test_episodes_share_a_file_and_their_timestamps_find_their_frames(tmp_path):
    writer = VideoWriter(str(tmp_path), KEY, "libx264", fps=10, max_file_mb=500)
    first = writer.add_episode(episode(3, 10))
    second = writer.add_episode(episode(4, 100))
    paths = writer.close()
    assert paths == [f"videos/{KEY}/chunk-000/file-000.mp4"]
    assert first == {"chunk_index": 0, "file_index": 0, "from_timestamp": 0.0,
                     "to_timestamp": 0.3}
    assert second["file_index"] == 0
    assert second["from_timestamp"] == pytest.approx(0.3)
    assert second["to_timestamp"] == pytest.approx(0.7)
    frames = decode(os.path.join(tmp_path, paths[0]))
    assert len(frames) == 7
    for t in range(4):      # LeRobot looks a frame up at from_timestamp + its timestamp
        img = [f for ts, f in frames if abs(ts - (second["from_timestamp"] + t / 10)) < 1e-4]
        assert len(img) == 1 and np.abs(img[0].astype(float) - (100 + 30 * t)).mean() < 8
    info = video_info(os.path.join(tmp_path, paths[0]))
    assert (info["video.width"], info["video.height"], info["video.fps"]) == (16, 16, 10)
    assert (info["video.codec"], info["video.pix_fmt"], info["has_audio"]) == (
        "h264", "yuv420p", False)


def test_past_the_size_limit_each_episode_starts_a_new_file(tmp_path):
    writer = VideoWriter(str(tmp_path), KEY, "libx264", fps=10, max_file_mb=0)
    where = [writer.add_episode(episode(3, 10 + 50 * e)) for e in range(3)]
    paths = writer.close()
    assert paths == [f"videos/{KEY}/chunk-000/file-00{i}.mp4" for i in range(3)]
    assert [w["file_index"] for w in where] == [0, 1, 2]
    assert all(w["from_timestamp"] == 0.0 for w in where)
    for e, rel in enumerate(paths):
        frames = decode(os.path.join(tmp_path, rel))
        assert len(frames) == 3
        assert np.abs(frames[0][1].astype(float) - (10 + 50 * e)).mean() < 8
