"""Minari datasets (the HDF5 storage) as episodes.

The layout read is Minari's ``HDF5Storage`` (``minari/dataset/_storages/hdf5_storage.py``
and ``docs/content/dataset_standards.md`` in Farama-Foundation/Minari)::

    <dataset id>/data/main_data.hdf5   the episodes
    <dataset id>/data/metadata.json    dataset metadata: data_format, dataset_id, spaces

    main_data.hdf5
      episode_<id>/                    attrs: id, total_steps, seed
        observations                   (T + 1, ...): the reset observation, then one per
                                       step; a group for Dict spaces (one member per key)
                                       and Tuple spaces (_index_0, _index_1, ...)
        actions                        (T, A), or (T,) for Discrete spaces
        rewards, terminations, truncations, infos (optional): not used

The source path may be the dataset folder, its ``data`` folder or ``main_data.hdf5``
itself. ``metadata.json`` is optional (older datasets lack it); when present its
``data_format`` must be ``"hdf5"``.

jepalab learns from pixels, so observations must be images: uint8 ``(T + 1, H, W, C)``
with ``C`` 1, 3 or 4, or grayscale ``(T + 1, H, W)``; they become RGB. Anything else (the
joint positions of a MuJoCo task, a Dict observation) is refused unless ``obs_key`` names
the images: a path inside each episode group, looked up under ``observations/`` first
(``pixels`` finds ``observations/pixels``). Discrete actions ``(T,)`` become ``(T, 1)``;
Dict and Tuple action spaces are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from jepalab.data.formats.source import Source, SourceEpisode, action_matrix
from jepalab.errors import DataError
from jepalab.io import read_json_object

MAIN_FILE = "main_data.hdf5"
METADATA_FILE = "metadata.json"
_EPISODE = re.compile(r"episode_(\d+)")
_READ_FRAMES = 256  # frames per HDF5 read: bounds memory for long episodes


def main_file(src: Path) -> Path | None:
    """The ``main_data.hdf5`` of the Minari dataset at ``src``, or ``None``."""
    if src.is_file():
        return src
    for candidate in (src / MAIN_FILE, src / "data" / MAIN_FILE):
        if candidate.is_file():
            return candidate
    return None


def read(src: Path, obs_key: str | None = None) -> Source:
    """Open the Minari dataset at ``src`` (see the module docstring).

    Raises:
        DataError: no dataset there, or a storage format other than HDF5; problems inside
            episodes are raised when the episodes are read.
    """
    path = main_file(src)
    if path is None:
        raise DataError(f"{src}: no Minari dataset here (neither {MAIN_FILE} nor data/{MAIN_FILE})")
    metadata = _metadata(path.parent / METADATA_FILE)
    storage = metadata.get("data_format", "hdf5")
    if storage != "hdf5":
        raise DataError(
            f"{path.parent / METADATA_FILE}: data_format is {storage!r}; jepalab reads Minari's "
            "hdf5 storage only"
        )
    folder = path.parent.parent if path.parent.name == "data" else path.parent
    name = str(metadata.get("dataset_id") or folder.name)
    return Source(name, _episodes(path, obs_key))


def _metadata(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    return read_json_object(path)


def _episodes(path: Path, obs_key: str | None) -> Iterator[SourceEpisode]:
    try:
        file = h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {err}") from err
    with file:
        ids = sorted(int(m[1]) for k in file if (m := _EPISODE.fullmatch(k)))
        if not ids:
            raise DataError(f"{path}: no episode_<id> groups; not a Minari dataset")
        for i in ids:
            group = file[f"episode_{i}"]
            where = f"{path} episode_{i}"
            frames = _images(group, where, obs_key)
            yield SourceEpisode(where, i, _chunks(frames, where), _actions(group, where))


def _is_image(node: Any) -> bool:
    if not isinstance(node, h5py.Dataset) or node.dtype != np.uint8:
        return False
    return node.ndim == 3 or (node.ndim == 4 and node.shape[-1] in (1, 3, 4))


def _images(group: h5py.Group, where: str, obs_key: str | None) -> h5py.Dataset:
    """The dataset of the episode's images: ``observations`` or the one ``obs_key`` names."""
    if obs_key is not None:
        for key in (f"observations/{obs_key}", obs_key):
            node = group.get(key)
            if node is not None:
                break
        else:
            raise DataError(
                f"{where}: has no {obs_key!r} (looked for observations/{obs_key} and "
                f"{obs_key}){_candidates(group)}"
            )
        if not _is_image(node):
            raise DataError(
                f"{where}: {node.name} is {_describe(node)}, not uint8 images (T + 1, H, W[, C])"
            )
        return node
    obs = group.get("observations")
    if obs is None:
        raise DataError(f"{where}: has no observations")
    if _is_image(obs):
        return obs
    raise DataError(
        f"{where}: observations are {_describe(obs)}, not images; jepalab learns from "
        f"pixels{_candidates(group)}"
    )


def _describe(node: h5py.Group | h5py.Dataset) -> str:
    if isinstance(node, h5py.Group):
        return f"a dict/tuple (keys {', '.join(node)})"
    return f"{node.dtype} of shape {node.shape}"


def _candidates(group: h5py.Group) -> str:
    """A hint naming the episode's image arrays, for --obs-key."""
    found: list[str] = []

    def visit(name: str, node: h5py.Group | h5py.Dataset) -> None:
        if _is_image(node):
            found.append(name)

    group.visititems(visit)
    if not found:
        return "; this episode holds no uint8 image arrays (T + 1, H, W[, C]) to use instead"
    return f"; pass --obs-key with one of its image arrays: {', '.join(found)}"


def _chunks(frames: h5py.Dataset, where: str) -> Iterator[np.ndarray]:
    for lo in range(0, frames.shape[0], _READ_FRAMES):
        block = _read(frames, where, slice(lo, lo + _READ_FRAMES))
        if block.ndim == 3:
            block = block[..., None]
        if block.shape[-1] != 3:  # broadcasting turns one channel into three; [:3] drops alpha
            block = np.array(np.broadcast_to(block[..., :3], (*block.shape[:3], 3)))
        yield block


def _actions(group: h5py.Group, where: str) -> np.ndarray:
    node = group.get("actions")
    if node is None:
        raise DataError(f"{where}: has no actions")
    if not isinstance(node, h5py.Dataset):
        raise DataError(
            f"{where}: actions are a dict/tuple; only Box and Discrete action spaces are supported"
        )
    return action_matrix(_read(node, where), where)


def _read(node: h5py.Dataset, where: str, index: Any = ()) -> np.ndarray:
    try:
        return node[index]
    except OSError as err:
        raise DataError(f"{where}: cannot read {node.name} (corrupt file?): {err}") from err
