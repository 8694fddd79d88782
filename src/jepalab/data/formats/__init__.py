"""Standard dataset formats into jepalab's episode format: ``jepalab convert``.

One reader per format, each in its own module, whose docstring gives the layout it reads:

- ``minari``: a Minari dataset, HDF5 storage (:mod:`.minari`);
- ``lerobot``: a LeRobot v3.0 dataset folder, parquet and mp4 (:mod:`.lerobot`);
- ``videos``: a folder of clips with an actions file beside each (:mod:`.video_folder`).

:func:`convert` writes what a reader yields with
:class:`~jepalab.data.dataset.EpisodeWriter`, under rules common to all formats:

- an episode of ``L`` frames comes with ``L - 1`` actions (action ``t`` leads from frame
  ``t`` to ``t + 1``), or ``L`` of which the last, taken after the final frame, is dropped;
  any other count, NaN or infinite actions are refused;
- frames are resized (area averaging, :func:`~jepalab.data.video.resize_frames`) to
  ``size x size``; without ``size`` they keep the source's size, which must be square;
- an episode's seed is its index in the source, and the dataset's ``env`` is
  ``"<format>:<source name>"``: converted data comes from no jepalab environment, so
  evaluation seeds mean nothing for it.

A failed conversion leaves no file at the destination and any dataset already there
untouched; an existing destination is replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from jepalab.data.dataset import EpisodeDataset, EpisodeWriter
from jepalab.data.formats import lerobot, minari, video_folder
from jepalab.data.formats.source import Source, SourceEpisode
from jepalab.data.video import VIDEO_SUFFIXES, resize_frames
from jepalab.errors import ConfigError, DataError

READERS: dict[str, Callable[[Path, str | None], Source]] = {
    "minari": minari.read,
    "lerobot": lerobot.read,
    "videos": video_folder.read,
}
FORMATS = ("auto", *READERS)

__all__ = ["FORMATS", "Source", "SourceEpisode", "convert", "detect_format"]


def detect_format(src: str | os.PathLike[str]) -> str:
    """``"minari"``, ``"lerobot"`` or ``"videos"``: what the file or folder ``src`` holds.

    Raises:
        DataError: ``src`` is missing or none of the three.
    """
    src = Path(src)
    if not src.exists():
        raise DataError(f"no dataset at {src} (no such file or folder)")
    if src.is_file():
        if src.suffix.lower() in (".hdf5", ".h5"):
            return "minari"
        raise DataError(
            f"{src}: cannot tell the dataset format of a {src.suffix or 'suffix-less'} file; "
            "expected a Minari .hdf5 file or a dataset folder"
        )
    if (src / "meta" / "info.json").is_file():
        return "lerobot"
    if minari.main_file(src) is not None:
        return "minari"
    clip_suffixes = (*VIDEO_SUFFIXES, *video_folder.ACTION_SUFFIXES)
    if any(f.suffix.lower() in clip_suffixes for f in src.iterdir() if f.is_file()):
        return "videos"
    raise DataError(
        f"{src}: cannot tell the dataset format: no meta/info.json (LeRobot), no "
        f"data/{minari.MAIN_FILE} (Minari), no videos or actions files; pass --format"
    )


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    format: str = "auto",
    size: int | None = None,
    obs_key: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Convert the dataset at ``src`` into a jepalab episode dataset at ``dst``.

    Args:
        src: the source file or folder.
        dst: the HDF5 file to write.
        format: ``"minari"``, ``"lerobot"``, ``"videos"``, or ``"auto"`` to detect it.
        size: resize frames to ``(size, size)``; ``None`` keeps the source's square size.
        obs_key: which image observation (Minari) or camera (LeRobot) to read.
        overwrite: replace an existing ``dst``.
        progress: show a progress bar of episodes.

    Returns:
        ``dst`` as a :class:`~pathlib.Path`: obs ``(N, size, size, 3)`` uint8.

    Raises:
        DataError: a bad source, naming the file and the problem, or an existing ``dst``.
        ConfigError: an unknown format or a bad size.
    """
    src, dst = Path(src), Path(dst)
    if format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    if size is not None and (int(size) != size or size < 1):
        raise ConfigError(f"size must be a positive integer, got {size}")
    if not src.exists():
        raise DataError(f"no dataset at {src} (no such file or folder)")
    _check_destination(src, dst, overwrite)
    name = detect_format(src) if format == "auto" else format
    source = READERS[name](src, obs_key)
    episodes = iter(source.episodes)
    first = next(episodes, None)
    if first is None:
        raise DataError(f"{src}: contains no episodes")
    # The first episode fixes the frame size (without `size`), action and state sizes.
    shape = None if size is None else (int(size), int(size), 3)
    obs, shape = _frames(first, shape, resize=size is not None)
    states = None if first.states is None else _rows(first.states)
    writer = EpisodeWriter(
        dst,
        env=f"{name}:{source.name}",
        obs_shape=shape,
        action_dim=_rows(first.actions).shape[1],
        state_dim=0 if states is None else states.shape[1],
    )
    with writer, tqdm(desc="convert", unit="ep", disable=not progress) as bar:
        _add(writer, first, obs)
        bar.update()
        for episode in episodes:
            _add(writer, episode, _frames(episode, shape, resize=size is not None)[0])
            bar.update()
    return writer.path


def _check_destination(src: Path, dst: Path, overwrite: bool) -> None:
    if dst.is_dir():
        raise DataError(f"{dst} is a folder; --out takes the dataset file to write (e.g. data.h5)")
    if not dst.exists():
        return
    if src.exists() and dst.samefile(src):
        raise DataError(f"{dst} is the source itself; write the dataset elsewhere")
    if not overwrite:
        try:
            with EpisodeDataset(dst) as existing:
                what = f"a jepalab dataset of {existing.num_episodes} episodes"
        except DataError:
            what = "not a jepalab dataset"
        raise DataError(f"{dst} already exists ({what}); pass --overwrite to replace it")


def _frames(
    episode: SourceEpisode, shape: tuple[int, int, int] | None, resize: bool
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """All frames of ``episode`` as ``(L, H, W, 3)`` uint8 of ``shape``, and that shape.

    ``shape=None`` takes the first chunk's size, which must be square; ``resize=False``
    refuses frames of any other size instead of resizing them.
    """
    parts = []
    for chunk in episode.frames:
        h, w = chunk.shape[1:3]
        if shape is None:
            if h != w:
                raise DataError(
                    f"{episode.where}: frames are {h}x{w} (H x W), not square; pass --size N "
                    "to resize them to N x N"
                )
            shape = (h, w, 3)
        elif not resize and (h, w) != shape[:2]:
            raise DataError(
                f"{episode.where}: frames are {h}x{w} but the first episode's are "
                f"{shape[0]}x{shape[1]}; pass --size N to resize all to N x N"
            )
        parts.append(resize_frames(chunk, shape).numpy())
    if not parts or shape is None:
        raise DataError(f"{episode.where}: the episode has no frames")
    return np.concatenate(parts) if len(parts) > 1 else parts[0], shape


def _add(writer: EpisodeWriter, episode: SourceEpisode, obs: np.ndarray) -> None:
    """Check ``episode``'s actions against its ``L`` frames and append it."""
    length, actions = len(obs), _rows(episode.actions)
    if len(actions) not in (length - 1, length):
        raise DataError(
            f"{episode.where}: {len(actions)} actions for {length} frames; expected "
            f"{length - 1} (one per transition) or {length} (the last is dropped)"
        )
    actions = actions[: length - 1]
    bad = ~np.isfinite(actions.astype(np.float64)).all(axis=1)
    if bad.any():
        raise DataError(f"{episode.where}: action {int(np.argmax(bad))} is NaN or infinite")
    try:
        states = None if episode.states is None else _rows(episode.states)
        writer.add_episode(obs, actions, states, seed=episode.index)
    except DataError as err:  # e.g. an action size that differs from the first episode's
        raise DataError(f"{episode.where}: {err}") from err


def _rows(values: np.ndarray) -> np.ndarray:
    """``(L, ...)`` -> ``(L, D)``: one row of numbers per frame or action."""
    return np.asarray(values).reshape(len(values), -1)
