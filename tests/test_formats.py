"""jepalab convert: Minari, LeRobot v3.0 and video folders round-trip into episode datasets;
bad input raises DataError naming the file and leaves the destination alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from jepalab import cli
from jepalab.data import EpisodeDataset, WindowDataset
from jepalab.data.formats import convert, detect_format
from jepalab.data.video import resize_frames
from jepalab.errors import DataError, JepalabError

from .test_video_io import block_frames, smooth_frames, write_folder, write_gif, write_video

S = 16  # frame side
CAMERA = "observation.images.top"


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def tmp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- builders ------------------------------------------------------------------------------


def minari_episodes(steps=(5, 6, 7)) -> list[dict[str, np.ndarray]]:
    """Per episode: T + 1 images (T + 1, S, S, 3) and T actions (T, 2), as Minari stores them."""
    r = rng()
    return [
        {
            "observations": r.integers(0, 256, (t + 1, S, S, 3), dtype=np.uint8),
            "actions": r.normal(size=(t, 2)).astype(np.float32),
        }
        for t in steps
    ]


def write_minari(root: Path, episodes: list[dict], observations=None) -> Path:
    """Minari's HDF5 storage: <root>/data/main_data.hdf5 and <root>/data/metadata.json.

    ``observations(i, episode_group)`` writes observations other than the episode's images.
    """
    data = root / "data"
    data.mkdir(parents=True)
    steps = sum(len(e["actions"]) for e in episodes)
    meta = {"dataset_id": "tiny/pixels-v0", "data_format": "hdf5", "total_steps": steps}
    (data / "metadata.json").write_text(json.dumps({**meta, "total_episodes": len(episodes)}))
    with h5py.File(data / "main_data.hdf5", "w") as f:
        for i, episode in enumerate(episodes):
            g = f.create_group(f"episode_{i}")
            t = len(episode["actions"])
            g.attrs.update({"id": i, "total_steps": t, "seed": 100 + i})
            if observations is None:
                g["observations"] = episode["observations"]
            else:
                observations(i, g)
            g["actions"] = episode["actions"]
            g["rewards"] = np.zeros(t)
            g["terminations"] = np.zeros(t, bool)
            g["truncations"] = np.zeros(t, bool)
    return root


def write_lerobot(
    root: Path,
    lengths=(5, 7),
    version="v3.0",
    cameras=(CAMERA,),
    drop_column: str | None = None,
) -> dict[str, np.ndarray]:
    """A LeRobot v3.0 folder: both episodes in one parquet file and one mp4 per camera.

    Returns the frames (N, S, S, 3), actions (N, 2) and states (N, 3) of all episodes.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    fps, n = 10, sum(lengths)
    r = rng(1)
    truth = {
        "frames": smooth_frames(n, S, S),  # brightness rises 12 per frame: order shows
        "actions": r.normal(size=(n, 2)).astype(np.float32),
        "states": r.normal(size=(n, 3)).astype(np.float32),
    }
    features = {
        "action": {"dtype": "float32", "shape": [2], "names": None},
        "observation.state": {"dtype": "float32", "shape": [3], "names": None},
        **{
            c: {"dtype": "video", "shape": [S, S, 3], "names": ["height", "width", "channels"]}
            for c in cameras
        },
    }
    info = {
        "codebase_version": version,
        "fps": fps,
        "total_episodes": len(lengths),
        "total_frames": n,
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
        "features": features,
    }
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps(info))

    episode = np.repeat(np.arange(len(lengths)), lengths)
    frame = np.concatenate([np.arange(k) for k in lengths])
    columns = {
        "episode_index": pa.array(episode, pa.int64()),
        "frame_index": pa.array(frame, pa.int64()),
        "timestamp": pa.array(frame / fps, pa.float32()),
        "index": pa.array(np.arange(n), pa.int64()),
        "task_index": pa.array(np.zeros(n, np.int64)),
        # one variable-length and one fixed-size list column: both occur in the wild
        "action": pa.array(truth["actions"].tolist(), pa.list_(pa.float32())),
        "observation.state": pa.array(truth["states"].tolist(), pa.list_(pa.float32(), 3)),
    }
    columns.pop(drop_column, None)
    (root / "data" / "chunk-000").mkdir(parents=True)
    pq.write_table(pa.table(columns), root / "data" / "chunk-000" / "file-000.parquet")

    starts = np.concatenate([[0], np.cumsum(lengths)])
    meta = {
        "episode_index": list(range(len(lengths))),
        "length": list(lengths),
        "data/chunk_index": [0] * len(lengths),
        "data/file_index": [0] * len(lengths),
        "dataset_from_index": starts[:-1].tolist(),
        "dataset_to_index": starts[1:].tolist(),
    }
    for c in cameras:
        meta[f"videos/{c}/chunk_index"] = [0] * len(lengths)
        meta[f"videos/{c}/file_index"] = [0] * len(lengths)
        meta[f"videos/{c}/from_timestamp"] = (starts[:-1] / fps).tolist()
        meta[f"videos/{c}/to_timestamp"] = (starts[1:] / fps).tolist()
        video = root / "videos" / c / "chunk-000"
        video.mkdir(parents=True)
        write_video(video / "file-000.mp4", truth["frames"])
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    pq.write_table(pa.table(meta), root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    truth["starts"] = starts
    return truth


def write_video_folder(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Clip ``a``: a GIF with (T - 1, 2) actions in .npy; clip ``b``: PNGs with T actions
    in a .csv with a header. Both lossless."""
    root.mkdir()
    a = block_frames(6, S, S)
    b = block_frames(8, S, S)[::-1].copy()
    a_actions = rng(2).normal(size=(5, 2))
    b_actions = rng(3).normal(size=(8, 2))
    write_gif(root / "a.gif", a)
    np.save(root / "a.npy", a_actions)
    write_folder(root / "b", b)
    lines = ["dx,dy"] + [f"{float(x)!r},{float(y)!r}" for x, y in b_actions]
    (root / "b.csv").write_text("\n".join(lines) + "\n")
    (root / "notes.txt").write_text("ignored")
    return {"a": (a, a_actions), "b": (b, b_actions[:-1])}


# -- round trips ---------------------------------------------------------------------------


def test_minari_round_trips_exactly_and_reads_as_windows(tmp_path):
    episodes = minari_episodes()
    src = write_minari(tmp_path / "pixels-v0", episodes)
    assert detect_format(src) == "minari"
    dst = convert(src, tmp_path / "out.h5")
    with EpisodeDataset(dst) as ds:
        assert ds.env == "minari:tiny/pixels-v0"
        assert ds.obs_shape == (S, S, 3) and ds.action_dim == 2 and ds.state_dim == 0
        assert ds.episode_seeds.tolist() == [0, 1, 2]
        for i, source in enumerate(episodes):
            ep = ds.episode(i)
            np.testing.assert_array_equal(ep["obs"], source["observations"])
            np.testing.assert_array_equal(ep["actions"], source["actions"])
    windows = WindowDataset(dst, window=4)
    assert len(windows) == sum(len(e["observations"]) - 3 for e in episodes)
    item = windows[0]
    assert item["obs"].shape == (4, S, S, 3) and item["actions"].shape == (3, 2)
    assert tmp_files(tmp_path) == []


def test_minari_resize_and_the_hdf5_file_itself_as_source(tmp_path):
    episodes = minari_episodes((4, 4))
    src = write_minari(tmp_path / "pixels-v0", episodes)
    dst = convert(src / "data" / "main_data.hdf5", tmp_path / "out.h5", size=8)
    with EpisodeDataset(dst) as ds:
        assert ds.obs_shape == (8, 8, 3)
        want = resize_frames(episodes[1]["observations"], (8, 8, 3)).numpy()
        np.testing.assert_array_equal(ds.episode(1)["obs"], want)


def test_minari_dict_observations_need_an_obs_key(tmp_path):
    episodes = minari_episodes((4, 5))

    def dict_obs(i, group):
        obs = group.create_group("observations")
        obs["pixels"] = episodes[i]["observations"]
        obs["joints"] = np.zeros((len(episodes[i]["observations"]), 4), np.float32)

    src = write_minari(tmp_path / "m", episodes, dict_obs)
    with pytest.raises(
        DataError, match=r"main_data.hdf5 episode_0.*--obs-key.*observations/pixels"
    ):
        convert(src, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()
    dst = convert(src, tmp_path / "out.h5", obs_key="pixels")
    with EpisodeDataset(dst) as ds:
        np.testing.assert_array_equal(ds.episode(1)["obs"], episodes[1]["observations"])


def test_minari_grayscale_images_become_rgb(tmp_path):
    episodes = minari_episodes((3,))
    gray = episodes[0]["observations"][..., 0]
    src = write_minari(
        tmp_path / "m", episodes, lambda i, g: g.create_dataset("observations", data=gray)
    )
    with EpisodeDataset(convert(src, tmp_path / "out.h5")) as ds:
        np.testing.assert_array_equal(ds.episode(0)["obs"], np.repeat(gray[..., None], 3, -1))


@pytest.fixture
def pyarrow():
    return pytest.importorskip("pyarrow")  # in the dev extra, so CI runs these


def test_lerobot_splits_the_shared_video_into_episodes(tmp_path, pyarrow):
    src = tmp_path / "lerobot"
    truth = write_lerobot(src)
    assert detect_format(src) == "lerobot"
    dst = convert(src, tmp_path / "out.h5")
    starts = truth["starts"]
    with EpisodeDataset(dst) as ds:
        assert ds.env == "lerobot:lerobot" and ds.num_episodes == 2
        assert ds.episode_lengths.tolist() == [5, 7] and ds.state_dim == 3
        for e in range(2):
            ep, span = ds.episode(e), slice(starts[e], starts[e + 1])
            # mp4 is lossy; a frame off by one would be 12 levels off everywhere
            diff = np.abs(ep["obs"].astype(int) - truth["frames"][span]).mean(axis=(1, 2, 3))
            assert diff.max() < 6, diff
            np.testing.assert_array_equal(ep["actions"], truth["actions"][span][:-1])
            np.testing.assert_array_equal(ep["states"], truth["states"][span])
    assert len(WindowDataset(dst, window=5)) == 1 + 3


def test_video_folder_round_trips(tmp_path):
    src = tmp_path / "clips"
    truth = write_video_folder(src)
    assert detect_format(src) == "videos"
    dst = convert(src, tmp_path / "out.h5")
    with EpisodeDataset(dst) as ds:
        assert ds.env == "videos:clips" and ds.episode_seeds.tolist() == [0, 1]
        for i, name in enumerate("ab"):
            frames, actions = truth[name]
            np.testing.assert_array_equal(ds.episode(i)["obs"], frames)
            np.testing.assert_allclose(ds.episode(i)["actions"], actions, rtol=1e-6)
    assert len(WindowDataset(dst, window=6)) == 1 + 3


def test_cli_convert_prints_a_summary_and_exits_2_on_bad_input(tmp_path, capsys):
    src = write_minari(tmp_path / "m", minari_episodes((3, 3)))
    dst = tmp_path / "out.h5"
    with pytest.raises(SystemExit) as done:
        cli.main(["convert", str(src), "--out", str(dst), "--size", "8"])
    assert done.value.code == 0
    line = capsys.readouterr().out.strip()
    assert str(dst) in line and "2 episodes" in line and "8x8x3" in line
    with pytest.raises(SystemExit) as done:
        cli.main(["convert", str(tmp_path / "missing"), "--out", str(tmp_path / "x.h5")])
    assert done.value.code == 2
    assert "missing" in capsys.readouterr().err


# -- bad input -----------------------------------------------------------------------------


def test_missing_source(tmp_path):
    with pytest.raises(DataError, match=r"no dataset at .*nope"):
        convert(tmp_path / "nope", tmp_path / "out.h5")
    with pytest.raises(DataError, match="no Minari dataset"):
        convert(tmp_path, tmp_path / "out.h5", format="minari")


def test_minari_nan_actions_leave_no_file(tmp_path):
    episodes = minari_episodes()
    episodes[1]["actions"][3, 0] = np.nan
    src = write_minari(tmp_path / "m", episodes)
    with pytest.raises(DataError, match=r"main_data.hdf5 episode_1: action 3 is NaN"):
        convert(src, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists() and tmp_files(tmp_path) == []


def test_minari_vector_observations_are_refused(tmp_path):
    episodes = minari_episodes((3,))
    vectors = np.zeros((4, 17), np.float32)
    src = write_minari(
        tmp_path / "m", episodes, lambda i, g: g.create_dataset("observations", data=vectors)
    )
    with pytest.raises(DataError, match=r"episode_0: observations are float32 .*not images"):
        convert(src, tmp_path / "out.h5")


def test_lerobot_unknown_version(tmp_path, pyarrow):
    write_lerobot(tmp_path / "old", version="v2.1")
    with pytest.raises(DataError, match=r"info.json: codebase_version is 'v2.1'.*v3.0"):
        convert(tmp_path / "old", tmp_path / "out.h5")


def test_lerobot_missing_column(tmp_path, pyarrow):
    write_lerobot(tmp_path / "ds", drop_column="action")
    with pytest.raises(DataError, match=r"file-000.parquet: missing column\(s\) action"):
        convert(tmp_path / "ds", tmp_path / "out.h5")


def test_lerobot_several_cameras_need_an_obs_key(tmp_path, pyarrow):
    write_lerobot(tmp_path / "ds", cameras=(CAMERA, "observation.images.wrist"))
    with pytest.raises(DataError, match=r"2 cameras.*--obs-key"):
        convert(tmp_path / "ds", tmp_path / "out.h5")
    with EpisodeDataset(convert(tmp_path / "ds", tmp_path / "out.h5", obs_key=CAMERA)) as ds:
        assert ds.num_episodes == 2


def test_lerobot_without_pyarrow_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(JepalabError, match=r"pip install 'jepalab\[lerobot\]'"):
        convert(tmp_path, tmp_path / "out.h5", format="lerobot")


def test_video_folder_action_count_must_match_frames(tmp_path):
    src = tmp_path / "clips"
    write_video_folder(src)
    np.save(src / "a.npy", np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"a.npy \(actions of a.gif\): 3 actions for 6 frames"):
        convert(src, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_video_folder_clip_without_actions(tmp_path):
    src = tmp_path / "clips"
    write_video_folder(src)
    (src / "b.csv").unlink()
    write_gif(src / "c.gif", block_frames(3, S, S))
    with pytest.raises(DataError, match=r"c.gif has no actions \(c.npy or c.csv\)"):
        convert(src, tmp_path / "out.h5")


def test_non_square_frames_need_a_size(tmp_path):
    src = tmp_path / "clips"
    src.mkdir()
    write_gif(src / "wide.gif", block_frames(4, S, 2 * S))
    np.save(src / "wide.npy", np.zeros((3, 1)))
    with pytest.raises(DataError, match=r"16x32.*not square; pass --size"):
        convert(src, tmp_path / "out.h5")
    with EpisodeDataset(convert(src, tmp_path / "out.h5", size=8)) as ds:
        assert ds.obs_shape == (8, 8, 3)


def test_an_existing_dataset_is_replaced_only_with_overwrite(tmp_path):
    good = write_minari(tmp_path / "good", minari_episodes((3, 3)))
    episodes = minari_episodes((3,))
    episodes[0]["actions"][0] = np.inf
    bad = write_minari(tmp_path / "bad", episodes)
    dst = convert(good, tmp_path / "out.h5")
    with pytest.raises(
        DataError, match=r"already exists \(a jepalab dataset of 2 episodes\).*--overwrite"
    ):
        convert(good, dst)
    with pytest.raises(DataError, match="infinite"):
        convert(bad, dst, overwrite=True)
    with EpisodeDataset(dst) as ds:  # the failed conversion left the old dataset intact
        assert ds.num_episodes == 2
    assert tmp_files(tmp_path) == []
    convert(good, dst, size=8, overwrite=True)
    with EpisodeDataset(dst) as ds:
        assert ds.obs_shape == (8, 8, 3)
