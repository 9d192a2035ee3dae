"""The camera videos of a LeRobot v3.0 export (ROS-free; PyAV).

Encoding follows LeRobot's defaults (GOP 2, CRF 30, yuv420p); the codec is h264 (libx264) by
default for compatibility, ``hevc`` and ``libsvtav1`` (LeRobot's own default) on request.
Every keyframe is a clean random-access point and frames are stored in display order (x265 is
told to close its GOPs and use no B-frames, as x264 and SVT-AV1 do at GOP 2 anyway): LeRobot
seeks to the keyframe before a frame and decodes from there.
"""

from __future__ import annotations

import fractions
import os

import numpy as np

from bc_ros.core.data.lerobot_meta import VIDEO_PATH, next_file

VIDEO_GOP = 2
VIDEO_CRF = 30
PIX_FMT = "yuv420p"
# codec name accepted here -> the FFmpeg encoder used (LeRobot accepts h264, hevc, libsvtav1)
ENCODERS = {"h264": "libx264", "libx264": "libx264", "hevc": "libx265", "libx265": "libx265",
            "libsvtav1": "libsvtav1", "av1": "libsvtav1"}
# Every keyframe must be a clean random-access point: LeRobot seeks to the keyframe before the
# frame it wants and decodes from there. libx264 and SVT-AV1 close their GOPs by default;
# libx265 opens them (a keyframe is a CRA whose leading B-frame, shown before it, references
# the previous GOP), and LeRobot's torchcodec decoder then cannot return some frames after a
# seek (FrameTimestampError: the nearest decodable frame is one frame away). So x265 encodes
# closed GOPs without B-frames: frames come out in display order, as with the other two.
ENCODER_OPTIONS = {"libx265": {"x265-params": "open-gop=0:bframes=0:log-level=error"}}


def check_encoder(codec: str) -> str:
    """The FFmpeg encoder for ``codec`` (a key of ENCODERS), which this PyAV build must have."""
    import av

    encoder = ENCODERS.get(codec)
    if encoder is None:
        raise ValueError(f"codec must be one of {sorted(ENCODERS)}, got {codec!r}")
    try:
        av.Codec(encoder, "w")
    except Exception as e:  # noqa: BLE001 - PyAV raises different errors across versions
        have = [c for c in sorted(set(ENCODERS.values())) if c in av.codecs_available]
        raise ValueError(f"this PyAV/FFmpeg build has no {encoder} encoder for codec "
                         f"{codec!r}; available: {have}") from e
    return encoder


class VideoWriter:
    """One camera's frames, all episodes concatenated into videos/<key>/chunk-CCC/file-FFF.mp4.
    Frame k of a file has presentation time k / fps, so an episode starting at frame k has
    from_timestamp k / fps. A new file starts at an episode boundary once the current one would
    pass ``max_file_mb``."""

    def __init__(self, root: str, key: str, encoder: str, fps: int, max_file_mb: float):
        self.root, self.key, self.encoder, self.fps = root, key, encoder, fps
        self.max_file_bytes = max_file_mb * 1024 ** 2
        self.chunk, self.file = 0, 0
        self.container = self.stream = self.path = None
        self.frames_in_file = 0
        self.episodes_in_file = 0
        self.paths: list[str] = []

    def _open(self, h: int, w: int) -> None:
        import av

        rel = VIDEO_PATH.format(video_key=self.key, chunk_index=self.chunk, file_index=self.file)
        self.path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.container = av.open(self.path, "w")
        self.stream = self.container.add_stream(
            self.encoder, rate=self.fps, options={"g": str(VIDEO_GOP), "crf": str(VIDEO_CRF),
                                                  **ENCODER_OPTIONS.get(self.encoder, {})})
        self.stream.width, self.stream.height, self.stream.pix_fmt = w, h, PIX_FMT
        self.stream.codec_context.time_base = fractions.Fraction(1, self.fps)
        self.frames_in_file = self.episodes_in_file = 0
        self.paths.append(rel)

    def _close_file(self) -> None:
        if self.container is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self.container.close()
            self.container = self.stream = None

    def add_episode(self, frames: np.ndarray) -> dict:
        """Encode an episode's (N, H, W, 3) RGB frames; returns where they are (the episodes
        table's videos/<key>/chunk_index, file_index, from_timestamp and to_timestamp)."""
        import av

        n, h, w = frames.shape[:3]
        if self.container is not None and self.episodes_in_file:
            # the muxer creates the file at its first packet, after the encoder's lookahead
            size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
            if size + size / self.episodes_in_file >= self.max_file_bytes:
                self._close_file()
                self.chunk, self.file = next_file(self.chunk, self.file)
        if self.container is None:
            self._open(h, w)
        start = self.frames_in_file
        time_base = fractions.Fraction(1, self.fps)
        try:
            for img in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                frame.pts, frame.time_base = self.frames_in_file, time_base
                for packet in self.stream.encode(frame):
                    self.container.mux(packet)
                self.frames_in_file += 1
        except av.FFmpegError as e:
            raise ValueError(f"{self.encoder} could not encode {w}x{h} frames of {self.key}: "
                             f"{e}") from e
        self.episodes_in_file += 1
        return {"chunk_index": self.chunk, "file_index": self.file,
                "from_timestamp": start / self.fps, "to_timestamp": self.frames_in_file / self.fps}

    def close(self) -> list[str]:
        """Finish the last file; returns every file written, relative to ``root``."""
        self._close_file()
        return self.paths

    def abort(self) -> None:
        try:
            if self.container is not None:
                self.container.close()
        except Exception:  # noqa: BLE001 - cleaning up after another error
            pass
        self.container = self.stream = None


def video_info(path: str) -> dict:
    """The ``info`` LeRobot's get_video_info records for a video feature."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        pix_fmt = stream.codec_context.pix_fmt or PIX_FMT
        return {"video.height": stream.height, "video.width": stream.width,
                "video.codec": stream.codec.canonical_name, "video.pix_fmt": pix_fmt,
                "video.is_depth_map": False, "video.fps": int(stream.base_rate),
                "video.channels": 3, "has_audio": len(container.streams.audio) > 0}
