"""Episodic memory: the places the agent has been, as a graph of ways between them.

Semi-parametric topological memory (Savinov et al. 2018; search on the replay buffer,
Eysenbach et al. 2019): every ``every``-th frame of a dataset is a node, and an edge says
the world model's agent can get from one node to the other in a few steps. Two kinds:

* **time**: consecutive nodes of one episode, ``every`` steps apart (the world went that
  way once, and an arm or a ball goes back as easily);
* **likeness**: each node's ``neighbours`` nearest nodes in embedding that are within
  ``embed_radius`` typical steps there *and* whose blurred pictures are within
  ``picture_radius`` typical steps (:meth:`PixelNeighbours.pictures
  <jepalab.world_model.PixelNeighbours.pictures>`). Embedding alone joins look-alikes the
  encoder folded together (on the MuJoCo Reacher 1.3% of such edges join arms whose
  fingertips are over 5 cm apart, and a shortest route takes one where it can); pictures
  blurred a little keep a folded arm apart from its mirror images, and kept none of
  those edges (BENCHMARKS, Reacher, session 38).

A typical step is the median squared change between consecutive frames, of the embedding
and of the pictures. A likeness edge is as long as its embedding distance in typical steps.

:meth:`locate` finds the node of an observation (among its nearest in embedding, the one
whose picture is nearest) and :meth:`routes_to` the shortest way from every node to one.

Shapes: ``M`` nodes, ``D`` embedding size, ``P`` picture size, ``E`` observations.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from scipy.sparse import csgraph
from tqdm import tqdm

from ..data import EpisodeDataset
from ..errors import DataError, JepalabError
from ..world_model import PixelNeighbours, WorldModel

CHUNK = 2048  # frames encoded, and nodes compared with all nodes, at a time
CANDIDATES = 32  # embedding-nearest nodes among which locate() picks by picture


class EpisodicMemory:
    """Nodes ``z (M, D)`` with ``pictures (M, P)`` of episodes ``episode (M,)``, in order.

    Args:
        z: node embeddings.
        pictures: the nodes' blurred pictures.
        episode: each node's episode; consecutive nodes of one episode are ``every`` apart.
        step_z, step_p: typical squared one-step changes of embedding and pictures.
        every: environment steps between consecutive nodes of an episode.
        neighbours, embed_radius, picture_radius: the likeness edges (module docstring).
        picture: observations ``(E, H, W, C)`` uint8 -> ``(E, P)`` pictures, as the nodes'.
    """

    def __init__(
        self,
        z: torch.Tensor,
        pictures: torch.Tensor,
        episode: np.ndarray,
        step_z: float,
        step_p: float,
        every: int,
        neighbours: int = 16,
        embed_radius: float = 1.0,
        picture_radius: float = 1.5,
        picture=None,
    ) -> None:
        if z.ndim != 2 or pictures.ndim != 2 or not len(z) == len(pictures) == len(episode):
            raise DataError(
                f"episodic memory needs (M, D) embeddings, (M, P) pictures and (M,) episodes, "
                f"got {tuple(z.shape)}, {tuple(pictures.shape)}, {np.shape(episode)}"
            )
        if len(z) < 2 or not (step_z > 0 and step_p > 0):
            raise DataError(
                f"episodic memory needs 2 or more nodes and positive typical steps, got "
                f"{len(z)} nodes, steps {step_z} and {step_p}"
            )
        self.z, self.pictures, self.picture = z, pictures, picture
        self.frames: np.ndarray | None = None  # (M,) each node's dataset frame, if from one
        self.step_z, self.step_p, self.every = float(step_z), float(step_p), int(every)
        self.graph = self._build(np.asarray(episode), neighbours, embed_radius, picture_radius)

    @classmethod
    @torch.no_grad()
    def from_dataset(
        cls,
        model: WorldModel,
        path: str | Path,
        every: int = 3,
        neighbours: int = 16,
        embed_radius: float = 1.0,
        picture_radius: float = 1.5,
        blur: float = 2.0,
        frames: int = 1,
        seed: int = 0,
        progress: bool = True,
    ) -> EpisodicMemory:
        """Every ``every``-th frame of the dataset at ``path``, encoded by ``model``; pictures
        are the last of ``frames`` stacked ones, blurred by a Gaussian of ``blur`` px."""
        if every < 1:
            raise JepalabError(f"every must be at least 1, got {every}")
        pictures = PixelNeighbours(model.obs_shape, frames=frames, blur=blur, queue=0).pictures
        model.eval()
        with EpisodeDataset(path) as ds:
            ds.check_compatible(model.obs_shape, model.action_dim)
            starts = ds.episode_starts
            index = np.concatenate([np.arange(a, b, every) for a, b in itertools.pairwise(starts)])
            episode = np.searchsorted(starts, index, "right") - 1
            z, pics = [], []
            for i in tqdm(range(0, len(index), CHUNK), "episodic memory", disable=not progress):
                obs = torch.from_numpy(ds.frames(index[i : i + CHUNK]))
                z.append(model.encode(obs))
                pics.append(pictures(obs))
            # the typical step, on up to 2000 consecutive pairs
            first = np.sort(ds.step_starts(2000, np.random.default_rng(seed)))
            a, b = (torch.from_numpy(ds.frames(i)) for i in (first, first + 1))
        step_z = float((model.encode(a) - model.encode(b)).square().sum(-1).median())
        step_p = float((pictures(a) - pictures(b)).square().sum(-1).median())
        memory = cls(
            torch.cat(z), torch.cat(pics), episode, step_z, step_p, every,
            neighbours, embed_radius, picture_radius, pictures,
        )  # fmt: skip
        memory.frames = index
        return memory

    def __len__(self) -> int:
        return len(self.z)

    def _build(
        self, episode: np.ndarray, neighbours: int, embed_radius: float, picture_radius: float
    ) -> sparse.csr_matrix:
        """The ``(M, M)`` symmetric graph of edge lengths in steps."""
        m = len(self.z)
        same = np.flatnonzero(episode[1:] == episode[:-1])
        rows, cols = [same, same + 1], [same + 1, same]
        lengths = [np.full(2 * len(same), float(self.every))]
        k = min(neighbours, m - 1)
        for i in range(0, m, CHUNK):
            q = self.z[i : i + CHUNK]
            d2 = torch.cdist(q, self.z).square()
            d2[torch.arange(len(q)), torch.arange(i, i + len(q))] = float("inf")  # not itself
            dz, near = d2.topk(k, largest=False)
            dp = (self.pictures[i : i + len(q), None] - self.pictures[near]).square().sum(-1)
            ok = (dz <= embed_radius**2 * self.step_z) & (dp <= picture_radius**2 * self.step_p)
            rows.append(torch.arange(i, i + len(q))[:, None].expand_as(near)[ok].numpy())
            cols.append(near[ok].numpy())
            lengths.append((dz[ok] / self.step_z).sqrt().clamp_min(0.1).numpy())
        # both ways; where two edges join the same nodes, the shorter
        r, c = np.concatenate(rows), np.concatenate(cols)
        r, c, length = np.r_[r, c], np.r_[c, r], np.tile(np.concatenate(lengths), 2)
        key = r.astype(np.int64) * m + c
        order = np.lexsort((length, key))
        first = order[np.r_[True, key[order][1:] != key[order][:-1]]]
        return sparse.csr_matrix((length[first], (r[first], c[first])), shape=(m, m))

    @torch.no_grad()
    def locate(self, z: torch.Tensor, pictures: torch.Tensor) -> np.ndarray:
        """``(E, D)`` embeddings and ``(E, P)`` pictures -> ``(E,)`` nodes: of the nearest
        nodes in embedding, the one whose picture is nearest."""
        near = torch.cdist(z, self.z).topk(min(CANDIDATES, len(self)), largest=False).indices
        dp = (pictures[:, None] - self.pictures[near]).square().sum(-1)
        return near[torch.arange(len(z)), dp.argmin(1)].numpy()

    def routes_to(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """``(M,)`` length in steps of the shortest way from every node to ``node`` (inf
        where there is none), and ``(M,)`` the next node on it (-9999 at ``node`` and where
        there is none)."""
        length, toward = csgraph.dijkstra(self.graph, indices=int(node), return_predecessors=True)
        return length, toward
