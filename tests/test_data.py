"""Episode datasets: writing, validating, windows, splits and exploration data."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from jepalab.data import (
    EpisodeDataset,
    EpisodeWriter,
    WindowDataset,
    collect,
    door_crossing_rate,
    split_episodes,
)
from jepalab.envs import TwoRoomsEnv
from jepalab.errors import DataError

OBS_SHAPE = (6, 5, 3)
LENGTHS = (5, 3, 7, 2)


def make_episodes(lengths=LENGTHS, seed=0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "obs": rng.integers(0, 256, (n, *OBS_SHAPE), dtype=np.uint8),
            "actions": rng.normal(size=(n - 1, 2)).astype(np.float32),
            "states": rng.normal(size=(n, 2)).astype(np.float32),
            "seed": 100 + i,
            "layout": [float(i), 2.0 * i],
        }
        for i, n in enumerate(lengths)
    ]


def write(path, episodes, **overrides):
    kwargs = {"env": "toy", "obs_shape": OBS_SHAPE, "action_dim": 2, "state_dim": 2}
    kwargs |= {"layout_fields": ("a", "b"), "seed_start": 100, "seed_stop": 200} | overrides
    with EpisodeWriter(path, **kwargs) as writer:
        for episode in episodes:
            writer.add_episode(**episode)
    return path


@pytest.fixture
def episodes():
    return make_episodes()


@pytest.fixture
def dataset_path(tmp_path, episodes):
    return write(tmp_path / "episodes.h5", episodes)


def test_round_trip_is_exact(dataset_path, episodes):
    with EpisodeDataset(dataset_path) as ds:
        assert ds.num_episodes == len(LENGTHS) and ds.num_frames == sum(LENGTHS)
        assert ds.obs_shape == OBS_SHAPE and ds.action_dim == 2 and ds.state_dim == 2
        assert ds.env == "toy" and ds.seed_range == (100, 200)
        assert ds.layout_fields == ("a", "b")
        np.testing.assert_array_equal(ds.episode_lengths, LENGTHS)
        for i, expected in enumerate(episodes):
            got = ds.episode(i)
            for key in ("obs", "actions", "states"):
                np.testing.assert_array_equal(got[key], expected[key])
            assert got["obs"].dtype == np.uint8
            assert got["seed"] == expected["seed"]
            np.testing.assert_array_equal(got["layout"], expected["layout"])
    with h5py.File(dataset_path) as f:
        assert f["obs"].chunks[0] == 16 and f["obs"].compression == "gzip"
        # The last action row of each episode is zero padding.
        assert not f["actions"][np.cumsum(LENGTHS) - 1].any()


def test_check_compatible_names_the_mismatch(dataset_path):
    with EpisodeDataset(dataset_path) as ds:
        ds.check_compatible(OBS_SHAPE, 2)
        with pytest.raises(DataError, match="dataset actions have dim 2 but the model expects 3"):
            ds.check_compatible(OBS_SHAPE, 3)
        with pytest.raises(DataError, match="observations have shape"):
            ds.check_compatible((64, 64, 3), 2)


def test_windows_are_the_episode_slices(dataset_path, episodes):
    window = 3
    data = WindowDataset(dataset_path, window)
    expected = [(e, s) for e, ep in enumerate(episodes) for s in range(len(ep["obs"]) - window + 1)]
    assert len(data) == len(expected)
    for k, (e, s) in enumerate(expected):
        item = data[k]
        assert item["obs"].dtype == torch.uint8 and item["actions"].dtype == torch.float32
        ep = episodes[e]
        np.testing.assert_array_equal(item["obs"], ep["obs"][s : s + window])
        np.testing.assert_array_equal(item["actions"], ep["actions"][s : s + window - 1])
        np.testing.assert_array_equal(item["states"], ep["states"][s : s + window])


def test_lazy_and_in_memory_windows_agree(dataset_path):
    lazy = WindowDataset(dataset_path, 2, episodes=[0, 2])
    eager = WindowDataset(dataset_path, 2, episodes=[0, 2], in_memory=True)
    assert len(lazy) == len(eager) == 4 + 6
    for k in range(len(lazy)):
        for key, value in lazy[k].items():
            torch.testing.assert_close(value, eager[k][key], rtol=0, atol=0)
    for data in (lazy, eager):
        stacked = data.batch([1, 7, 3])
        for key in ("obs", "actions", "states"):
            torch.testing.assert_close(
                stacked[key], torch.stack([data[i][key] for i in (1, 7, 3)]), rtol=0, atol=0
            )


def test_strided_windows_skip_frames_and_average_actions(dataset_path, episodes):
    # stride 2, window 3: frames s, s+2, s+4; action k is the mean of the two in between.
    for in_memory in (False, True):
        data = WindowDataset(dataset_path, 3, stride=2, in_memory=in_memory)
        expected = [(e, s) for e, ep in enumerate(episodes) for s in range(len(ep["obs"]) - 4)]
        assert len(data) == len(expected) == 1 + 3
        for k, (e, s) in enumerate(expected):
            ep, item = episodes[e], data[k]
            np.testing.assert_array_equal(item["obs"], ep["obs"][s : s + 5 : 2])
            np.testing.assert_array_equal(item["states"], ep["states"][s : s + 5 : 2])
            pairs = ep["actions"][s : s + 4].reshape(2, 2, 2)
            np.testing.assert_allclose(item["actions"], pairs.mean(1), rtol=1e-6)
        stacked = data.batch([3, 0])
        for key in ("obs", "actions", "states"):
            torch.testing.assert_close(stacked[key], torch.stack([data[3][key], data[0][key]]))
    with pytest.raises(DataError, match=r"no episode .* 13 frames"):
        WindowDataset(dataset_path, 5, stride=3)


def test_windows_without_states_are_empty(tmp_path, episodes):
    for episode in episodes:
        episode["states"] = None
    path = write(tmp_path / "no_states.h5", episodes, state_dim=0)
    assert WindowDataset(path, 4)[0]["states"].shape == (4, 0)


def test_windows_load_in_dataloader_workers(dataset_path):
    data = WindowDataset(dataset_path, 3)
    data[0]  # an open handle in the parent must not leak into the worker
    loader = torch.utils.data.DataLoader(data, batch_size=4, num_workers=1)
    obs = torch.cat([batch["obs"] for batch in loader])
    torch.testing.assert_close(obs, torch.stack([data[k]["obs"] for k in range(len(data))]))


def test_short_episodes_are_skipped_and_no_window_is_an_error(dataset_path):
    assert len(WindowDataset(dataset_path, 6)) == 2  # only the 7-frame episode
    with pytest.raises(DataError, match="no episode"):
        WindowDataset(dataset_path, 8)
    with pytest.raises(DataError, match="out of range"):
        WindowDataset(dataset_path, 2, episodes=[4])


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no dataset at"):
        EpisodeDataset(tmp_path / "nope.h5")


def test_truncated_file(dataset_path):
    data = dataset_path.read_bytes()
    dataset_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        EpisodeDataset(dataset_path)


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.h5"
    path.write_bytes(b"not an hdf5 file" * 100)
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        WindowDataset(path, 2)


def test_file_without_complete_is_an_interrupted_write(dataset_path):
    with h5py.File(dataset_path, "a") as f:
        del f.attrs["complete"]
    with pytest.raises(DataError, match="incomplete"):
        EpisodeDataset(dataset_path)


def test_nan_actions_in_file(dataset_path):
    with h5py.File(dataset_path, "a") as f:
        f["actions"][3, 1] = np.nan
    with pytest.raises(DataError, match="actions contain NaN"):
        EpisodeDataset(dataset_path)


def test_inconsistent_offsets(dataset_path):
    with h5py.File(dataset_path, "a") as f:
        f["episode_starts"][2] = 1
    with pytest.raises(DataError, match="episode_starts"):
        EpisodeDataset(dataset_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"actions": np.full((4, 2), np.nan, np.float32)}, "episode 0 .*actions contain NaN"),
        ({"obs": np.zeros((5, *OBS_SHAPE), np.float32)}, "episode 0 .*uint8"),
        ({"obs": np.zeros((5, 6, 6, 3), np.uint8)}, "obs must have shape"),
        ({"actions": np.zeros((4, 3), np.float32)}, r"actions must have shape \(4, 2\)"),
        ({"obs": np.zeros((1, *OBS_SHAPE), np.uint8)}, "at least 2 frames"),
        ({"seed": 5}, "outside the declared range"),
    ],
)
def test_writer_rejects_bad_episodes(tmp_path, episodes, change, message):
    path = tmp_path / "bad.h5"
    with pytest.raises(DataError, match=message):
        write(path, [episodes[0] | change])
    assert not path.exists() and not (tmp_path / "bad.h5.tmp").exists()


def test_failed_write_leaves_the_existing_file_untouched(dataset_path, episodes):
    before = dataset_path.read_bytes()
    with pytest.raises(RuntimeError), EpisodeWriter(dataset_path, "toy", OBS_SHAPE, 2, 2) as w:
        w.add_episode(**(episodes[0] | {"layout": []}))
        raise RuntimeError("interrupted")
    assert dataset_path.read_bytes() == before
    assert list(dataset_path.parent.iterdir()) == [dataset_path]


def test_split_episodes_is_a_seeded_partition():
    train, val = split_episodes(20, 0.25, seed=3)
    assert sorted(train + val) == list(range(20)) and len(val) == 5
    assert (train, val) == split_episodes(20, 0.25, seed=3)
    assert val != split_episodes(20, 0.25, seed=4)[1]
    assert len(split_episodes(3, 0.01, seed=0)[1]) == 1


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    root = tmp_path_factory.mktemp("collect")
    kwargs = {"episodes": 24, "episode_len": 100, "seed": 7, "progress": False}
    return (
        collect("two-rooms", root / "one.h5", workers=1, **kwargs),
        collect("two-rooms", root / "two.h5", workers=2, **kwargs),
    )


def test_collect_does_not_depend_on_workers(collected):
    with EpisodeDataset(collected[0]) as one, EpisodeDataset(collected[1]) as two:
        assert one.seed_range == two.seed_range == (7, 31)
        assert one.layout_fields == ("wall_x", "door_y")
        for i in range(one.num_episodes):
            a, b = one.episode(i), two.episode(i)
            assert a["seed"] == b["seed"] == 7 + i
            for key in ("obs", "actions", "states", "layout"):
                np.testing.assert_array_equal(a[key], b[key])


def test_collected_actions_replay_to_the_recorded_frames(collected):
    with EpisodeDataset(collected[0]) as ds:
        episode = ds.episode(5)
    env = TwoRoomsEnv()
    obs, _ = env.reset(seed=episode["seed"])
    np.testing.assert_array_equal(episode["layout"], env.layout)
    for t, action in enumerate(episode["actions"]):
        np.testing.assert_array_equal(obs, episode["obs"][t])
        np.testing.assert_array_equal(env.state, episode["states"][t])
        obs, *_ = env.step(action)
    np.testing.assert_array_equal(obs, episode["obs"][-1])


def test_collected_data_crosses_the_door_often(collected):
    # Measured: 54% of 1000 episodes of 100 frames (every waypoint episode, ~4% of walks).
    with EpisodeDataset(collected[0]) as ds:
        assert door_crossing_rate(ds) >= 0.3
