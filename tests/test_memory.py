"""Short-term memory: bounded, evicts the oldest whole episodes, samples true transitions."""

import pytest
import torch

from jepalab.errors import JepalabError
from jepalab.memory import ShortTermMemory


def _episode(t: int, tag: float, d: int = 3, a: int = 2):
    """States whose first coordinate is (tag, step), so a sample tells where it came from."""
    states = torch.zeros(t + 1, d)
    states[:, 0], states[:, 1] = tag, torch.arange(t + 1)
    return states, torch.full((t, a), tag), torch.arange(t, dtype=torch.float) + tag


def test_capacity_is_respected_by_evicting_the_oldest_episodes():
    mem = ShortTermMemory(capacity=10)
    for tag in range(4):
        mem.add_episode(*_episode(4, float(tag)))
    assert len(mem) == 8 and mem.episodes == 2 and mem.evicted == 2
    tags = set(mem.sample(200, torch.Generator().manual_seed(0)).state[:, 0].tolist())
    assert tags == {2.0, 3.0}
    kept = mem.trajectories()  # oldest first, whole
    assert [s[0, 0].item() for s, _ in kept] == [2.0, 3.0]
    assert all(s.shape == (5, 3) and a.shape == (4, 2) for s, a in kept)


def test_samples_are_real_transitions_with_their_successor_and_end_flag():
    mem = ShortTermMemory(capacity=100)
    mem.add_episode(*_episode(5, 1.0))
    mem.add_episode(*_episode(3, 2.0))
    b = mem.sample(500, torch.Generator().manual_seed(1))
    assert torch.equal(b.next_state[:, 0], b.state[:, 0])  # same episode
    assert torch.equal(b.next_state[:, 1], b.state[:, 1] + 1)  # the next step
    assert torch.equal(b.cost, b.state[:, 0] + b.state[:, 1])  # cost of that step
    assert torch.equal(b.action[:, 0], b.state[:, 0])
    last = torch.where(b.state[:, 0] == 1.0, 4.0, 2.0)
    assert torch.equal(b.done, (b.state[:, 1] == last).float())


def test_an_episode_longer_than_memory_keeps_its_end():
    mem = ShortTermMemory(capacity=4)
    mem.add_episode(*_episode(10, 0.0))
    assert len(mem) == 4
    assert set(mem.sample(100).state[:, 1].tolist()) == {6.0, 7.0, 8.0, 9.0}


def test_bad_input_is_named():
    mem = ShortTermMemory(capacity=10)
    with pytest.raises(JepalabError, match="empty"):
        mem.sample(1)
    s, a, c = _episode(3, 0.0)
    with pytest.raises(JepalabError, match="needs actions"):
        mem.add_episode(s, a[:2], c)
    c[1] = float("nan")
    with pytest.raises(JepalabError, match="NaN"):
        mem.add_episode(s, a, c)
    mem.add_episode(*_episode(3, 0.0))
    with pytest.raises(JepalabError, match="dim 3"):
        mem.add_episode(*_episode(3, 0.0, d=5))
    with pytest.raises(JepalabError, match="capacity"):
        ShortTermMemory(0)
