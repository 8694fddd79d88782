"""A folder of clips with actions as episodes: the plainest way to bring your own data.

Each clip is one episode::

    <folder>/<name>.mp4    its frames: a video jepalab.data.video reads (.mp4, .avi, .mov,
                           .mkv, .webm, .gif), or a sub-folder <name>/ of images
    <folder>/<name>.npy    its actions, (L - 1, A) for L frames (action t leads from
                           frame t to frame t + 1), or (L, A) whose last row is dropped;
                           a 1-D array is one number per action, (L - 1,) -> (L - 1, 1)
    <folder>/<name>.csv    the same as comma-separated numbers, one action per line; a
                           first line that is not numbers is a header and is skipped

Episodes come in name order; an episode's seed is its position in that order. Every video
needs exactly one actions file and every actions file a clip; a sub-folder counts as a
clip only when an actions file has its name, and other files are ignored. (``.npy`` names
the actions here, so frame arrays in ``.npy`` files are not clips.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from jepalab.data.formats.source import Source, SourceEpisode, action_matrix
from jepalab.data.video import VIDEO_SUFFIXES, iter_video
from jepalab.errors import ConfigError, DataError

ACTION_SUFFIXES = (".npy", ".csv")


def read(src: Path, obs_key: str | None = None) -> Source:
    """Pair the clips and actions files of folder ``src`` (see the module docstring).

    Raises:
        DataError: not a folder, no clips, or a clip and its actions that do not pair up.
        ConfigError: ``obs_key`` given (a clip has one picture).
    """
    if obs_key is not None:
        raise ConfigError("--obs-key applies to Minari and LeRobot datasets, not video folders")
    if not src.is_dir():
        raise DataError(f"{src}: not a folder (a video folder holds <name>.mp4 + <name>.npy)")
    videos: dict[str, Path] = {}
    folders: dict[str, Path] = {}
    actions: dict[str, Path] = {}
    for entry in src.iterdir():
        suffix = entry.suffix.lower()
        if entry.name.startswith("."):  # hidden: macOS "._clip.mp4" metadata, not clips
            continue
        if entry.is_dir():
            folders[entry.name] = entry
            continue
        if suffix in VIDEO_SUFFIXES:
            found = videos
        elif suffix in ACTION_SUFFIXES:
            found = actions
        else:
            continue
        if entry.stem in found:
            raise DataError(
                f"{src}: both {found[entry.stem].name} and {entry.name} are for {entry.stem!r}; "
                "keep one"
            )
        found[entry.stem] = entry
    clips = {name: folder for name, folder in folders.items() if name in actions}
    for name, video in videos.items():
        if name in clips:
            raise DataError(f"{src}: {name!r} is both a video and an image folder; keep one")
        clips[name] = video
    if not clips:
        raise DataError(
            f"{src}: no clips (videos {', '.join(VIDEO_SUFFIXES)} with a .npy or .csv of actions)"
        )
    orphans = sorted(actions.keys() - clips.keys())
    if orphans:
        raise DataError(f"{src}: {actions[orphans[0]].name} has no clip of that name")
    unpaired = sorted(clips.keys() - actions.keys())
    if unpaired:
        raise DataError(
            f"{src}: {clips[unpaired[0]].name} has no actions ({unpaired[0]}.npy or "
            f"{unpaired[0]}.csv)"
        )
    names = sorted(clips)
    return Source(src.name, _episodes(names, clips, actions))


def _episodes(
    names: list[str], clips: dict[str, Path], actions: dict[str, Path]
) -> Iterator[SourceEpisode]:
    for i, name in enumerate(names):
        where = f"{actions[name]} (actions of {clips[name].name})"
        yield SourceEpisode(where, i, iter_video(clips[name]), load_actions(actions[name]))


def load_actions(path: Path) -> np.ndarray:
    """The actions in a ``.npy`` or ``.csv`` file as a ``(rows, A)`` array."""
    if path.suffix.lower() == ".npy":
        try:
            actions = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise DataError(f"{path}: cannot read as a .npy array: {err}") from err
    else:
        actions = _read_csv(path)
    return action_matrix(actions, str(path))


def _read_csv(path: Path) -> np.ndarray:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read the file: {err}") from err
    rows: list[list[float]] = []
    first = True
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append([float(x) for x in line.split(",")])
        except ValueError:
            if not first:  # only the first line may be a header
                raise DataError(
                    f"{path}: line {number} is not comma-separated numbers: {line[:60]!r}"
                ) from None
        first = False
    if not rows:
        raise DataError(f"{path}: contains no actions")
    if len({len(r) for r in rows}) > 1:
        raise DataError(f"{path}: lines have different numbers of values")
    return np.array(rows, dtype=np.float64).reshape(len(rows), -1)
