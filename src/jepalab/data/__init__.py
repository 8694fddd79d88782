"""Episode datasets: collecting exploration data, storing it in HDF5 and reading windows."""

from jepalab.data.collect import ExplorationPolicy, collect, door_crossing_rate
from jepalab.data.dataset import EpisodeDataset, EpisodeWriter, WindowDataset, split_episodes

__all__ = [
    "EpisodeDataset",
    "EpisodeWriter",
    "ExplorationPolicy",
    "WindowDataset",
    "collect",
    "door_crossing_rate",
    "split_episodes",
]
