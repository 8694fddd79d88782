"""The on-disk episode dataset (HDF5) and lazy fixed-length windows over it.

Schema, version 1. Root attributes:

- ``format = "jepalab.episodes"``, ``version = 1``, ``env`` (str): the environment's name;
- ``obs_shape`` ``(H, W, C)``, ``action_dim`` ``A``, ``state_dim`` ``S`` (0 without states);
- ``seed_start``, ``seed_stop``: every episode seed lies in ``[seed_start, seed_stop)``,
  so an evaluation can prove its own seeds are disjoint from the training data;
- ``complete = True``: written last; a file without it is an interrupted write.

Datasets, with ``N`` frames in ``E`` episodes stored back to back:

- ``obs`` ``(N, H, W, C)`` uint8, chunks of 16 frames, gzip level 4 with shuffle;
- ``actions`` ``(N, A)`` float32: row ``t`` is the action taken after frame ``t``; the last
  row of each episode is zero padding;
- ``states`` ``(N, S)`` float32, only when ``S > 0``: the true agent state, for probes;
- ``episode_starts`` ``(E + 1,)`` int64: CSR offsets, episode ``e`` is frames
  ``episode_starts[e]:episode_starts[e + 1]``;
- ``episode_seeds`` ``(E,)`` int64;
- ``layout`` ``(E, F)`` float32, attribute ``fields``: the names of its ``F`` columns.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np
import torch

from jepalab.errors import ConfigError, DataError

FORMAT = "jepalab.episodes"
VERSION = 1
OBS_CHUNK_FRAMES = 16
_ATTRS = ("env", "obs_shape", "action_dim", "state_dim", "seed_start", "seed_stop")
_DATASETS = ("obs", "actions", "episode_starts", "episode_seeds", "layout")
# Non-finite checks on open read this many rows at a time, so memory stays bounded.
_CHECK_ROWS = 1 << 20


class EpisodeWriter:
    """Append episodes to a new dataset file; the file appears only once it is complete.

    Writes go to ``<path>.tmp``. A clean exit from the ``with`` block finalises the
    attributes and atomically renames the file onto ``path``; an exception deletes the tmp
    file and leaves any existing file at ``path`` untouched.

    Args:
        path: where the dataset will be.
        env: the environment's name.
        obs_shape: ``(H, W, C)`` of every frame.
        action_dim: ``A``.
        state_dim: ``S``; 0 records no states.
        layout_fields: names of the per-episode layout numbers.
        seed_start, seed_stop: the declared seed range ``[seed_start, seed_stop)``; by
            default the range spanned by the seeds added.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        env: str,
        obs_shape: Sequence[int],
        action_dim: int,
        state_dim: int = 0,
        layout_fields: Sequence[str] = (),
        seed_start: int | None = None,
        seed_stop: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.tmp_path = self.path.with_name(self.path.name + ".tmp")
        self.env = env
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.action_dim = int(action_dim)
        self.state_dim = int(state_dim)
        self.layout_fields = tuple(layout_fields)
        self.seed_start = seed_start
        self.seed_stop = seed_stop
        self.num_episodes = 0
        self.num_frames = 0
        self._seed_min: int | None = None
        self._seed_max: int | None = None
        self._file: h5py.File | None = None

    def __enter__(self) -> EpisodeWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = f = h5py.File(self.tmp_path, "w")
        frame = self.obs_shape
        f.create_dataset(
            "obs",
            shape=(0, *frame),
            maxshape=(None, *frame),
            dtype=np.uint8,
            chunks=(OBS_CHUNK_FRAMES, *frame),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
        f.create_dataset("actions", (0, self.action_dim), np.float32, maxshape=(None, None))
        if self.state_dim > 0:
            f.create_dataset("states", (0, self.state_dim), np.float32, maxshape=(None, None))
        f.create_dataset("episode_starts", data=np.zeros(1, np.int64), maxshape=(None,))
        f.create_dataset("episode_seeds", (0,), np.int64, maxshape=(None,))
        layout = f.create_dataset(
            "layout", (0, len(self.layout_fields)), np.float32, maxshape=(None, None)
        )
        layout.attrs["fields"] = list(self.layout_fields)
        return self

    def add_episode(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        states: np.ndarray | None,
        seed: int,
        layout: Sequence[float] = (),
    ) -> None:
        """Append one episode.

        Args:
            obs: ``(L, H, W, C)`` uint8 frames, ``L >= 2``.
            actions: ``(L - 1, A)``: action ``t`` leads from frame ``t`` to ``t + 1``.
            states: ``(L, S)``, or ``None`` when ``state_dim == 0``.
            seed: the seed the episode was generated from.
            layout: one number per layout field.
        """
        if self._file is None:
            raise DataError("EpisodeWriter is not open: use it as `with EpisodeWriter(...) as w`")
        obs, actions, states, layout_row = self._validate(obs, actions, states, seed, layout)
        n, length = self.num_frames, obs.shape[0]
        f = self._file
        padded = np.zeros((length, self.action_dim), np.float32)
        padded[:-1] = actions
        _append(f["obs"], obs)
        _append(f["actions"], padded)
        if states is not None:
            _append(f["states"], states)
        _append(f["episode_starts"], np.array([n + length], np.int64))
        _append(f["episode_seeds"], np.array([seed], np.int64))
        _append(f["layout"], layout_row[None])
        self.num_episodes += 1
        self.num_frames += length
        self._seed_min = seed if self._seed_min is None else min(self._seed_min, seed)
        self._seed_max = seed if self._seed_max is None else max(self._seed_max, seed)

    def _validate(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        states: np.ndarray | None,
        seed: int,
        layout: Sequence[float],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        where = f"episode {self.num_episodes} (seed {seed})"
        if not isinstance(obs, np.ndarray) or obs.dtype != np.uint8:
            dtype = getattr(obs, "dtype", type(obs).__name__)
            raise DataError(f"{where}: obs must be a uint8 numpy array, got {dtype}")
        if obs.ndim != 1 + len(self.obs_shape) or obs.shape[1:] != self.obs_shape:
            raise DataError(
                f"{where}: obs must have shape (L, {', '.join(map(str, self.obs_shape))}), "
                f"got {obs.shape}"
            )
        length = obs.shape[0]
        if length < 2:
            raise DataError(f"{where}: an episode needs at least 2 frames, got {length}")
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != (length - 1, self.action_dim):
            raise DataError(
                f"{where}: actions must have shape ({length - 1}, {self.action_dim}) for "
                f"{length} frames, got {actions.shape}"
            )
        if not np.isfinite(actions).all():
            raise DataError(f"{where}: actions contain NaN or infinity")
        if self.state_dim == 0:
            if states is not None:
                raise DataError(f"{where}: states given but the writer has state_dim=0")
        else:
            if states is None:
                raise DataError(f"{where}: states missing (state_dim={self.state_dim})")
            states = np.asarray(states, dtype=np.float32)
            if states.shape != (length, self.state_dim):
                raise DataError(
                    f"{where}: states must have shape ({length}, {self.state_dim}), "
                    f"got {states.shape}"
                )
            if not np.isfinite(states).all():
                raise DataError(f"{where}: states contain NaN or infinity")
        layout_row = np.asarray(layout, dtype=np.float32).reshape(-1)
        if layout_row.shape != (len(self.layout_fields),):
            raise DataError(
                f"{where}: layout must have {len(self.layout_fields)} numbers "
                f"{self.layout_fields}, got {len(layout_row)}"
            )
        lo = self.seed_start if self.seed_start is not None else seed
        hi = self.seed_stop if self.seed_stop is not None else seed + 1
        if not lo <= seed < hi:
            raise DataError(
                f"{where}: seed outside the declared range [{self.seed_start}, {self.seed_stop})"
            )
        return obs, actions, states, layout_row

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        f, self._file = self._file, None
        if f is None:
            return
        try:
            if exc_type is not None:
                return
            if self.num_episodes == 0:
                raise DataError(f"no episodes were added; {self.path} was not written")
            seed_start = self._seed_min if self.seed_start is None else self.seed_start
            seed_stop = self._seed_max + 1 if self.seed_stop is None else self.seed_stop
            f.attrs.update(
                {
                    "format": FORMAT,
                    "version": VERSION,
                    "env": self.env,
                    "obs_shape": np.array(self.obs_shape, np.int64),
                    "action_dim": self.action_dim,
                    "state_dim": self.state_dim,
                    "seed_start": seed_start,
                    "seed_stop": seed_stop,
                }
            )
            f.attrs["complete"] = True  # last, so a file with it is whole
            f.close()
            with open(self.tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp_path, self.path)
        finally:
            # Reached with the tmp file still there only on failure: discard it.
            if f.id.valid:
                f.close()
            with contextlib.suppress(FileNotFoundError):
                self.tmp_path.unlink()


def _append(dataset: h5py.Dataset, rows: np.ndarray) -> None:
    n = dataset.shape[0]
    dataset.resize(n + rows.shape[0], axis=0)
    dataset[n:] = rows


class EpisodeDataset:
    """A validated, read-only view of an episode dataset file.

    Opening checks the schema, the offsets and that actions and states are finite, and
    raises :class:`~jepalab.errors.DataError` naming the problem otherwise.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file = _open(self.path)
        try:
            self._validate()
        except BaseException:
            self._file.close()
            raise

    def _validate(self) -> None:
        f, name = self._file, self.path
        attrs = f.attrs
        if attrs.get("format") != FORMAT:
            raise DataError(f"{name} is not a jepalab episode dataset (format attribute missing)")
        if attrs.get("version") != VERSION:
            raise DataError(
                f"{name} has dataset version {attrs.get('version')}; "
                f"this jepalab reads version {VERSION}"
            )
        if not attrs.get("complete", False):
            raise DataError(f"{name} is incomplete: its write was interrupted; collect it again")
        missing = [a for a in _ATTRS if a not in attrs]
        if missing:
            raise DataError(f"{name} lacks attributes {missing}")
        missing = [d for d in _DATASETS if d not in f]
        if self.state_dim > 0 and "states" not in f:
            missing.append("states")
        if missing:
            raise DataError(f"{name} lacks datasets {missing}")

        n, s_dim = self.num_frames, self.state_dim
        expected = {"obs": (n, *self.obs_shape), "actions": (n, self.action_dim)}
        if s_dim > 0:
            expected["states"] = (n, s_dim)
        for key, shape in expected.items():
            if f[key].shape != shape:
                raise DataError(f"{name}: {key} has shape {f[key].shape}, expected {shape}")
        if f["obs"].dtype != np.uint8:
            raise DataError(f"{name}: obs has dtype {f['obs'].dtype}, expected uint8")

        starts = self._starts = _read(f["episode_starts"], name)
        e = len(starts) - 1
        if e < 1 or starts[0] != 0 or starts[-1] != n or (np.diff(starts) < 2).any():
            raise DataError(
                f"{name}: episode_starts must rise from 0 to {n} frames with every episode "
                "at least 2 frames long"
            )
        if f["episode_seeds"].shape != (e,) or f["layout"].shape[0] != e:
            raise DataError(f"{name}: episode_seeds and layout must have one row per episode ({e})")
        for key in ("actions", "states") if s_dim > 0 else ("actions",):
            for lo in range(0, n, _CHECK_ROWS):
                if not np.isfinite(_read(f[key], name, slice(lo, lo + _CHECK_ROWS))).all():
                    raise DataError(f"{name}: {key} contain NaN or infinity")

    # -- metadata ------------------------------------------------------------------------

    @property
    def env(self) -> str:
        """The name of the environment the episodes come from."""
        return str(self._file.attrs["env"])

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """``(H, W, C)``."""
        return tuple(int(d) for d in self._file.attrs["obs_shape"])

    @property
    def action_dim(self) -> int:
        """``A``."""
        return int(self._file.attrs["action_dim"])

    @property
    def state_dim(self) -> int:
        """``S`` (0 when the dataset has no states)."""
        return int(self._file.attrs["state_dim"])

    @property
    def seed_range(self) -> tuple[int, int]:
        """``(seed_start, seed_stop)``: every episode seed is in this half-open range."""
        return int(self._file.attrs["seed_start"]), int(self._file.attrs["seed_stop"])

    @property
    def num_frames(self) -> int:
        """``N``, all episodes together."""
        return int(self._file["obs"].shape[0])

    @property
    def num_episodes(self) -> int:
        """``E``."""
        return len(self._starts) - 1

    @property
    def episode_starts(self) -> np.ndarray:
        """``(E + 1,)`` int64 frame offsets."""
        return self._starts.copy()

    @property
    def episode_lengths(self) -> np.ndarray:
        """``(E,)`` int64 frames per episode."""
        return np.diff(self._starts)

    def step_starts(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Up to ``count`` distinct frames drawn by ``rng`` from those that have a successor
        in their episode: with ``+ 1`` they are pairs one step of the world apart."""
        pool = np.concatenate([np.arange(a, b - 1) for a, b in itertools.pairwise(self._starts)])
        if len(pool) == 0:
            raise DataError(f"{self.path}: no episode has two frames to measure a step on")
        return rng.choice(pool, min(count, len(pool)), False)

    @property
    def episode_seeds(self) -> np.ndarray:
        """``(E,)`` int64."""
        return _read(self._file["episode_seeds"], self.path)

    @property
    def layout_fields(self) -> tuple[str, ...]:
        """Names of the columns of :attr:`layouts`."""
        return tuple(str(s) for s in self._file["layout"].attrs.get("fields", ()))

    @property
    def layouts(self) -> np.ndarray:
        """``(E, F)`` float32 per-episode layout numbers."""
        return _read(self._file["layout"], self.path)

    @property
    def states(self) -> np.ndarray:
        """``(N, S)`` float32 states of all frames (``(N, 0)`` without states)."""
        if self.state_dim == 0:
            return np.zeros((self.num_frames, 0), np.float32)
        return _read(self._file["states"], self.path)

    def check_compatible(self, obs_shape: Sequence[int], action_dim: int) -> None:
        """Raise :class:`DataError` unless frames are ``obs_shape`` and actions ``action_dim``."""
        if tuple(obs_shape) != self.obs_shape:
            raise DataError(
                f"dataset observations have shape {self.obs_shape} but the model expects "
                f"{tuple(obs_shape)}"
            )
        if action_dim != self.action_dim:
            raise DataError(
                f"dataset actions have dim {self.action_dim} but the model expects {action_dim}"
            )

    # -- data ----------------------------------------------------------------------------

    def episode(self, i: int) -> dict[str, Any]:
        """Episode ``i``: ``obs`` ``(L, H, W, C)`` uint8, ``actions`` ``(L - 1, A)``,
        ``states`` ``(L, S)``, ``seed`` int and ``layout`` ``(F,)``."""
        if not -self.num_episodes <= i < self.num_episodes:
            raise IndexError(f"episode {i} out of range: the dataset has {self.num_episodes}")
        i %= self.num_episodes
        frames = slice(int(self._starts[i]), int(self._starts[i + 1]))
        f = self._file
        length = frames.stop - frames.start
        return {
            "obs": _read(f["obs"], self.path, frames),
            "actions": _read(f["actions"], self.path, frames)[:-1],
            "states": _read(f["states"], self.path, frames)
            if self.state_dim > 0
            else np.zeros((length, 0), np.float32),
            "seed": int(f["episode_seeds"][i]),
            "layout": _read(f["layout"], self.path, i),
        }

    def frames(self, indices: Sequence[int]) -> np.ndarray:
        """uint8 ``(N, H, W, C)`` frames at increasing global frame ``indices`` (the frame
        numbering :attr:`episode_starts` uses)."""
        idx = np.asarray(indices, np.int64)
        inside = idx.size == 0 or (idx.min() >= 0 and idx.max() < self.num_frames)
        if not inside or (np.diff(idx) <= 0).any():
            raise IndexError(
                f"frame indices must increase within [0, {self.num_frames}), got "
                f"{idx.tolist()[:8]}..."
            )
        return _read(self._file["obs"], self.path, idx)

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> EpisodeDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: Path) -> h5py.File:
    if not path.is_file():
        raise DataError(f"no dataset at {path}")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(
            f"{path} is not a readable HDF5 file (truncated or corrupt?): {err}"
        ) from err


def _read(dataset: h5py.Dataset, path: Path, index: Any = ()) -> np.ndarray:
    """``dataset[index]`` with HDF5 read errors (corrupt chunks) turned into DataError."""
    try:
        return dataset[index]
    except OSError as err:
        raise DataError(f"{path}: cannot read {dataset.name} (corrupt file?): {err}") from err


class WindowDataset(torch.utils.data.Dataset):
    """Every window of ``window`` frames ``stride`` steps apart inside an episode, read lazily.

    The HDF5 file is opened on first access in each process, so the dataset pickles into
    DataLoader workers; each item reads only its window's slices. ``in_memory=True`` loads
    all frames once instead (fast, for datasets that fit in RAM). Episodes shorter than a
    window's span, ``(window - 1) * stride + 1`` frames, contribute nothing.

    Items are dicts: ``obs`` uint8 ``(T, H, W, C)``, ``actions`` float32 ``(T - 1, A)`` and
    ``states`` float32 ``(T, S)`` (``(T, 0)`` without states), with ``T = window``. With
    ``stride > 1`` (a world model whose step is ``stride`` environment steps, see
    ``model.frame_skip``) action ``k`` is the mean of the ``stride`` recorded actions taken
    between frames ``k`` and ``k + 1``.

    Args:
        path: the dataset file.
        window: ``T``, frames per item.
        episodes: which episodes to use (default: all).
        in_memory: load everything up front.
        stride: environment steps between consecutive frames of a window.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        window: int,
        episodes: Sequence[int] | None = None,
        in_memory: bool = False,
        stride: int = 1,
    ) -> None:
        if int(window) != window or window < 1:
            raise ConfigError(f"window must be a positive integer, got {window}")
        if int(stride) != stride or stride < 1:
            raise ConfigError(f"stride (model.frame_skip) must be a positive integer, got {stride}")
        self.path = Path(path)
        self.window, self.stride = int(window), int(stride)
        self.span = (self.window - 1) * self.stride + 1  # recorded frames a window covers
        with EpisodeDataset(self.path) as ds:
            self.obs_shape, self.action_dim, self.state_dim = (
                ds.obs_shape,
                ds.action_dim,
                ds.state_dim,
            )
            starts = ds.episode_starts
            ids = np.arange(ds.num_episodes) if episodes is None else np.asarray(episodes, int)
            bad = ids[(ids < 0) | (ids >= ds.num_episodes)]
            if bad.size:
                raise DataError(
                    f"episodes {bad.tolist()} out of range: {self.path} has "
                    f"{ds.num_episodes} episodes"
                )
            self.episode_ids = ids
            # Item k is the window starting at global frame _first[k].
            self._first = np.concatenate(
                [np.arange(starts[e], starts[e + 1] - self.span + 1) for e in ids]
                or [np.zeros(0, np.int64)]
            ).astype(np.int64)
            if len(self._first) == 0:
                raise DataError(
                    f"{self.path}: no episode among the {len(ids)} selected has "
                    f"{self.span} frames (window {self.window}, stride {self.stride}; longest: "
                    f"{int(np.diff(starts)[ids].max(initial=0))}); use a shorter --data.window "
                    "or collect longer episodes"
                )
            self._arrays: dict[str, np.ndarray] | None = None
            if in_memory:
                self._load(ds, starts, ids)
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def _load(self, ds: EpisodeDataset, starts: np.ndarray, ids: np.ndarray) -> None:
        """Read the selected episodes into RAM, and re-address windows into that copy."""
        runs: list[list[int]] = []  # merged [begin, end) frame ranges, one read each
        for e in ids:
            a, b = int(starts[e]), int(starts[e + 1])
            if runs and runs[-1][1] == a:
                runs[-1][1] = b
            else:
                runs.append([a, b])
        names = ["obs", "actions"] + (["states"] if self.state_dim > 0 else [])
        self._arrays = {
            n: np.concatenate([_read(ds._file[n], self.path, slice(a, b)) for a, b in runs])
            for n in names
        }
        if self.state_dim == 0:
            self._arrays["states"] = np.zeros((len(self._arrays["obs"]), 0), np.float32)
        # Global frame index -> index in the compact copy.
        shift = np.zeros(int(starts[-1]) + 1, np.int64)
        offset = 0
        for a, b in runs:
            shift[a:b] = np.arange(offset, offset + b - a)
            offset += b - a
        self._first = shift[self._first]

    def __len__(self) -> int:
        return len(self._first)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        t0 = int(self._first[index])
        frames = slice(t0, t0 + self.span)
        actions = slice(t0, t0 + self.span - 1)
        if self._arrays is not None:
            a = self._arrays
            obs, act, states = a["obs"][frames], a["actions"][actions], a["states"][frames]
        else:
            f = self._h5()
            obs = _read(f["obs"], self.path, frames)
            act = _read(f["actions"], self.path, actions)
            states = (
                _read(f["states"], self.path, frames)
                if self.state_dim > 0
                else np.zeros((self.span, 0), np.float32)
            )
        return {
            "obs": torch.from_numpy(obs[:: self.stride].copy()),
            "actions": torch.from_numpy(self._pool_actions(act)),
            "states": torch.tensor(states[:: self.stride], dtype=torch.float32),
        }

    def batch(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """Items ``indices`` stacked: ``obs`` ``(B, T, H, W, C)``, ``actions``
        ``(B, T - 1, A)``, ``states`` ``(B, T, S)``; one fancy-index when ``in_memory``."""
        if self._arrays is None:
            items = [self[i] for i in indices]
            return {k: torch.stack([item[k] for item in items]) for k in items[0]}
        first = self._first[np.asarray(indices, dtype=np.int64)][:, None]
        frames = first + self.stride * np.arange(self.window)
        a = self._arrays
        return {
            "obs": torch.from_numpy(a["obs"][frames]),
            "actions": torch.from_numpy(
                self._pool_actions(a["actions"][first + np.arange(self.span - 1)])
            ),
            "states": torch.from_numpy(a["states"][frames]),
        }

    def _pool_actions(self, actions: np.ndarray) -> np.ndarray:
        """``(..., (T - 1) * stride, A)`` recorded actions -> ``(..., T - 1, A)`` float32
        means over each stride."""
        actions = np.asarray(actions, np.float32)
        if self.stride == 1:
            return actions.copy()
        shape = (*actions.shape[:-2], self.window - 1, self.stride, actions.shape[-1])
        return actions.reshape(shape).mean(-2)

    def _h5(self) -> h5py.File:
        # A handle inherited through fork is not safe to use: reopen per process.
        if self._file is None or self._pid != os.getpid():
            self._file = _open(self.path)
            self._pid = os.getpid()
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = state["_pid"] = None
        return state


def split_episodes(
    num_episodes: int, val_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Randomly split episode ids into ``(train_ids, val_ids)``, each sorted.

    Splitting by episode (not by window) keeps overlapping windows out of both sides.
    With ``0 < val_fraction`` at least one episode goes to validation, and at least one
    always stays in training.
    """
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if num_episodes < 1 or (val_fraction > 0 and num_episodes < 2):
        raise DataError(f"cannot split {num_episodes} episode(s) into train and validation")
    n_val = round(num_episodes * val_fraction)
    if val_fraction > 0:
        n_val = min(max(n_val, 1), num_episodes - 1)
    order = np.random.default_rng(seed).permutation(num_episodes)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())
