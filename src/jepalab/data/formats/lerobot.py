"""LeRobot v3.0 datasets (a local folder) as episodes.

The layout read is LeRobot's v3.0 (``src/lerobot/datasets/utils.py`` in huggingface/lerobot:
``INFO_PATH``, ``DEFAULT_EPISODES_PATH``, ``DEFAULT_DATA_PATH``, ``DEFAULT_VIDEO_PATH``)::

    meta/info.json                            codebase_version "v3.0", fps, features,
                                              data_path and video_path templates
    meta/episodes/chunk-XXX/file-XXX.parquet  a row per episode: episode_index, length,
                                              data/chunk_index, data/file_index,
                                              videos/<camera>/chunk_index, .../file_index,
                                              .../from_timestamp
    data/chunk-XXX/file-XXX.parquet           a row per frame: episode_index, frame_index,
                                              timestamp, action, observation.state, ...
    videos/<camera>/chunk-XXX/file-XXX.mp4    several episodes back to back

Frames come from one camera, a feature of dtype ``"video"``: the only one, or the one
``obs_key`` names. LeRobot finds frame ``t`` of an episode at ``from_timestamp +
timestamp[t]`` in the camera's file (``LeRobotDataset._query_videos``); with timestamps
``frame_index / fps`` (checked), that is frame ``round(from_timestamp * fps) + t`` of the
file in decoding order, so each file is decoded once, front to back. The ``action`` column
gives one action per frame (the last is dropped); ``observation.state``, when the dataset
has it, becomes the states.

Refused: other codebase versions (v2.x: convert it to v3.0 with LeRobot first), cameras
stored as images inside the parquet files (dtype ``"image"``). Reading parquet needs
pyarrow: ``pip install 'jepalab[lerobot]'``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from jepalab.data.formats.source import Source, SourceEpisode
from jepalab.data.video import iter_video
from jepalab.errors import DataError, JepalabError
from jepalab.io import read_json_object

VERSION = "v3.0"
ACTION = "action"
STATE = "observation.state"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"


def read(src: Path, obs_key: str | None = None) -> Source:
    """Open the LeRobot v3.0 dataset in folder ``src`` (see the module docstring).

    Raises:
        DataError: a missing folder or file, an unknown codebase version, a missing
            camera or column; problems inside episodes are raised as they are read.
        JepalabError: pyarrow is not installed.
    """
    pa, pq = _pyarrow()
    if not src.is_dir():
        raise DataError(f"{src}: not a folder (a LeRobot dataset is a folder with meta/info.json)")
    info_path = src / "meta" / "info.json"
    info = _info(info_path)
    camera = _camera(info_path, info["features"], obs_key)
    files = sorted((src / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    if not files:
        raise DataError(f"{src}: no meta/episodes/chunk-*/file-*.parquet (episode metadata)")
    video = f"videos/{camera}/"
    columns = ["episode_index", "length", "data/chunk_index", "data/file_index"]
    columns += [video + c for c in ("chunk_index", "file_index", "from_timestamp")]
    tables = [_read_table(pa, pq, f, columns) for f in files]
    episodes = {c: np.concatenate([t[c] for t in tables]) for c in columns}
    order = np.argsort(episodes["episode_index"], kind="stable")
    episodes = {c: v[order] for c, v in episodes.items()}
    return Source(src.name, _episodes(src, info, camera, episodes, pa, pq))


def _pyarrow() -> tuple[ModuleType, ModuleType]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as err:
        raise JepalabError(
            "reading LeRobot datasets needs pyarrow: pip install 'jepalab[lerobot]'"
        ) from err
    return pyarrow, pyarrow.parquet


def _info(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{path.parent.parent}: no meta/info.json; not a LeRobot dataset")
    info = read_json_object(path)
    version = info.get("codebase_version")
    if version != VERSION:
        raise DataError(
            f"{path}: codebase_version is {version!r}; jepalab reads LeRobot {VERSION} datasets "
            f"(convert older ones to {VERSION} with LeRobot first)"
        )
    if not isinstance(info.get("features"), dict) or not isinstance(info.get("fps"), int | float):
        raise DataError(f"{path}: lacks 'fps' or 'features'")
    if ACTION not in info["features"]:
        raise DataError(f"{path}: has no {ACTION!r} feature, so no actions to learn from")
    return info


def _camera(path: Path, features: dict[str, Any], obs_key: str | None) -> str:
    """The video feature to read frames from."""
    kinds = {k: f.get("dtype") for k, f in features.items() if isinstance(f, dict)}
    videos = [k for k, dtype in kinds.items() if dtype == "video"]
    images = [k for k, dtype in kinds.items() if dtype == "image"]
    if obs_key is None and len(videos) == 1:
        return videos[0]
    if obs_key is None and len(videos) > 1:
        raise DataError(
            f"{path}: {len(videos)} cameras ({', '.join(videos)}); pass --obs-key with one"
        )
    if obs_key in videos:
        return obs_key
    what = f"no video feature {obs_key!r}" if obs_key else "no video feature"
    listed = f"; its videos: {', '.join(videos)}" if videos else ""
    if images:
        listed += f"; image features stored in parquet ({', '.join(images)}) are not supported"
    raise DataError(f"{path}: {what}{listed}")


def _read_table(
    pa: ModuleType, pq: ModuleType, path: Path, columns: Sequence[str]
) -> dict[str, np.ndarray]:
    """``columns`` of the parquet file ``path``; list columns become ``(rows, n)`` arrays."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        names = pq.read_schema(path).names
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
        table = pq.read_table(path, columns=list(columns))
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"{path}: cannot read as parquet: {err}") from err
    return {c: _column(pa, table.column(c).combine_chunks(), path, c) for c in columns}


def _column(pa: ModuleType, column: Any, path: Path, name: str) -> np.ndarray:
    if column.null_count:
        raise DataError(f"{path}: column {name!r} has {column.null_count} missing values")
    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        if np.unique(np.diff(column.offsets.to_numpy())).size > 1:
            raise DataError(f"{path}: column {name!r} has rows of different lengths")
    elif not pa.types.is_fixed_size_list(kind):
        return column.to_numpy(zero_copy_only=False)
    values = column.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(column), len(values) // max(len(column), 1))


def _episodes(
    src: Path,
    info: dict[str, Any],
    camera: str,
    episodes: dict[str, np.ndarray],
    pa: ModuleType,
    pq: ModuleType,
) -> Iterator[SourceEpisode]:
    fps = float(info["fps"])
    data_path, video_path = info.get("data_path", DATA_PATH), info.get("video_path", VIDEO_PATH)
    has_state = STATE in info["features"]
    columns = ["episode_index", "frame_index", "timestamp", ACTION]
    columns += [STATE] if has_state else []
    video = _VideoCursor()
    data_file, data = None, {}
    for row in range(len(episodes["episode_index"])):
        e, length = int(episodes["episode_index"][row]), int(episodes["length"][row])
        path = src / data_path.format(
            chunk_index=int(episodes["data/chunk_index"][row]),
            file_index=int(episodes["data/file_index"][row]),
        )
        if path != data_file:  # episodes are stored in order: each file is read once
            data, data_file = _read_table(pa, pq, path, columns), path
        where = f"{path} episode {e}"
        rows = np.flatnonzero(data["episode_index"] == e)
        rows = rows[np.argsort(data["frame_index"][rows], kind="stable")]
        _check_frames(where, data["frame_index"][rows], data["timestamp"][rows], length, fps)
        mp4 = src / video_path.format(
            video_key=camera,
            chunk_index=int(episodes[f"videos/{camera}/chunk_index"][row]),
            file_index=int(episodes[f"videos/{camera}/file_index"][row]),
        )
        start = round(float(episodes[f"videos/{camera}/from_timestamp"][row]) * fps)
        states = data[STATE][rows] if has_state else None
        yield SourceEpisode(
            where, e, video.frames(mp4, start, start + length), data[ACTION][rows], states
        )


def _check_frames(
    where: str, frame_index: np.ndarray, timestamp: np.ndarray, length: int, fps: float
) -> None:
    """Frames must be ``0 .. length - 1`` at ``frame_index / fps`` seconds."""
    if len(frame_index) != length:
        raise DataError(f"{where}: {len(frame_index)} frames, but meta/episodes says {length}")
    if not np.array_equal(frame_index, np.arange(length)):
        raise DataError(f"{where}: frame_index is not 0, 1, ..., {length - 1}")
    off = np.flatnonzero(np.rint(timestamp * fps) != frame_index)
    if off.size:
        t = int(off[0])
        raise DataError(
            f"{where}: frame {t} has timestamp {float(timestamp[t]):g} s, not "
            f"frame_index / fps = {t / fps:g} s; jepalab reads videos at a constant frame rate"
        )


class _VideoCursor:
    """Hands out frame ranges ``[start, stop)`` of video files, decoding a file once when
    the ranges asked for go forward (episodes stored back to back)."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._chunks: Iterator[np.ndarray] = iter(())
        self._buffer = np.zeros((0, 1, 1, 3), np.uint8)  # decoded frames not yet handed out
        self._pos = 0  # file frame index of _buffer[0]

    def frames(self, path: Path, start: int, stop: int) -> Iterator[np.ndarray]:
        """``(n, H, W, 3)`` chunks of frames ``start .. stop - 1`` of ``path``; consume them
        before asking for the next range."""
        if path != self._path or start < self._pos:
            # Dropping the old stream closes its file.
            self._path, self._chunks = path, iter_video(path)
            self._buffer, self._pos = self._buffer[:0], 0
        return self._take(start, stop)

    def _take(self, start: int, stop: int) -> Iterator[np.ndarray]:
        pos = start
        while pos < stop:
            if not len(self._buffer):
                chunk = next(self._chunks, None)
                if chunk is None:
                    raise DataError(
                        f"{self._path}: ends after {self._pos} frames, but an episode needs "
                        f"frames {start}-{stop - 1} (from_timestamp or length wrong?)"
                    )
                self._buffer = chunk
            skip = pos - self._pos
            if skip >= len(self._buffer):
                self._pos += len(self._buffer)
                self._buffer = self._buffer[:0]
                continue
            take = min(stop - pos, len(self._buffer) - skip)
            yield self._buffer[skip : skip + take]
            self._buffer = self._buffer[skip + take :]
            self._pos = pos = pos + take
