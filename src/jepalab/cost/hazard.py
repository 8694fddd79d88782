"""The hazard cost: a learned probe of how close a state is to a forbidden region.

Part of the intrinsic cost (the paper's hard-wired "pain"): ``p(z, scene)`` in [0, 1] is
1 inside a forbidden region, falls linearly to 0 at ``reach_px`` pixels from it, and is 0
farther away. Forbidden regions are drawn in the picture (hot cells in Hazard Rooms), not
known to the agent as coordinates, so the probe reads them where a planner needs them: in a
glimpse of the world model's scene map around the (predicted) state, through the world
model's own locator, the way the predictor reads walls (:mod:`jepalab.world_model.scene`).
The world model stays frozen; the probe is a small MLP on ``[z, glimpse]`` trained by
regression on recorded frames whose distance to the nearest region is known.

Shapes: ``N`` states, ``E`` scenes (``N / E`` consecutive states share one), ``D``
embedding size.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..errors import JepalabError
from ..training.checkpoint import load_state, read_addon, save_checkpoint
from ..world_model.jepa import WorldModel
from ..world_model.scene import glimpse_offsets

HAZARD_KIND = "hazard-probe"
GOAL_IN_HAZARD = (
    "unreachable goal: the goal is in a forbidden region (hazard probe {p:.2f} >= 0.5); "
    "reaching it would end the episode as a failure"
)


def proximity(distance: torch.Tensor, reach_px: float) -> torch.Tensor:
    """The probe's target: ``1 - distance / reach_px`` clamped to [0, 1]."""
    return (1 - distance / reach_px).clamp(0, 1)


class HazardProbe(nn.Module):
    """``p(z, scene)``: ``(N, D), (E, C, h, w) -> (N,)`` closeness to a forbidden region.

    Args:
        model: the world model whose embeddings, scene map and locator it reads (it keeps a
            reference, not a copy; it must read a scene: ``model.scene_channels > 0``).
        reach_px: distance at which the cost falls to 0.
        points, spacing_px: the glimpse, ``points x points`` samples ``spacing_px`` apart
            (wider than the predictor's: a planner must see a region before it is in it).
        hidden: width of the MLP.
    """

    def __init__(
        self,
        model: WorldModel,
        reach_px: float = 4.0,
        points: int = 5,
        spacing_px: float = 2.0,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        if model.scene is None:
            raise JepalabError("the hazard probe reads the scene map: the world model has none")
        if reach_px <= 0:
            raise JepalabError(f"reach_px must be > 0, got {reach_px}")
        self.settings = {
            "reach_px": float(reach_px),
            "points": int(points),
            "spacing_px": float(spacing_px),
            "hidden": int(hidden),
        }
        self.reach_px = float(reach_px)
        self._model = [model]  # a list keeps the world model out of this module's state
        self.register_buffer("offsets", glimpse_offsets(model.obs_shape, points, spacing_px))
        features = model.embed_dim + model.scene.glimpses * points**2 * model.scene.channels
        self.net = nn.Sequential(
            nn.Linear(features, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 1),
        )  # fmt: skip

    def features(self, z: torch.Tensor, scene: torch.Tensor) -> torch.Tensor:
        """``(N, F)``: the embedding and the glimpse of the scene around it."""
        return torch.cat([z, self._model[0].scene.read(scene, z, self.offsets)], -1)

    def forward(self, z: torch.Tensor, scene: torch.Tensor | None) -> torch.Tensor:
        if scene is None:
            raise JepalabError("the hazard probe needs the scene maps the states are in")
        return torch.sigmoid(self.net(self.features(z, scene)).squeeze(-1))


def train_hazard_probe(
    probe: HazardProbe,
    z: torch.Tensor,
    scenes: torch.Tensor,
    scene_of: torch.Tensor,
    distance: torch.Tensor,
    steps: int = 3000,
    batch: int = 512,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> list[float]:
    """Fit the probe to recorded frames; returns the loss of every step.

    Args:
        z: ``(F, D)`` embeddings of the frames.
        scenes: ``(S, C, h, w)`` scene maps, ``scene_of`` ``(F,)`` the one of each frame.
        distance: ``(F,)`` distance of each frame's agent to the nearest forbidden region, px.

    Half of every batch are frames within ``reach_px`` of a region (rare in exploration
    data, and the only ones that teach the probe what a region looks like).
    """
    if not (len(z) == len(scene_of) == len(distance)) or len(z) == 0:
        raise JepalabError(
            f"the hazard probe needs as many frames, scene indices and distances, got "
            f"{len(z)}, {len(scene_of)} and {len(distance)}"
        )
    if not torch.isfinite(distance).all():
        raise JepalabError("hazard distances must be finite")
    target = proximity(distance.float(), probe.reach_px)
    near = torch.nonzero(target > 0).squeeze(1)
    if len(near) == 0:
        raise JepalabError(
            f"no frame comes within {probe.reach_px} px of a forbidden region: nothing to "
            "learn a hazard from (collect data in a world that has them)"
        )
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(probe.net.parameters(), lr=lr)
    losses = []
    probe.train()
    for _ in tqdm(range(steps), desc="hazard probe", disable=not progress):
        i = torch.cat(
            [
                torch.randint(len(z), (batch - batch // 2,), generator=gen),
                near[torch.randint(len(near), (batch // 2,), generator=gen)],
            ]
        )
        with torch.no_grad():  # the world model is frozen: only the MLP learns
            x = probe.features(z[i], scenes[scene_of[i]])
        loss = F.binary_cross_entropy_with_logits(probe.net(x).squeeze(-1), target[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def save_hazard_probe(probe: HazardProbe, path: str | Path) -> None:
    """Write the probe's own weights and settings to safetensors (atomically)."""
    meta = {"kind": HAZARD_KIND, "embed_dim": probe._model[0].embed_dim, **probe.settings}
    save_checkpoint(path, probe.net.state_dict(), meta)


def load_hazard_probe(path: str | Path, model: WorldModel) -> HazardProbe:
    """Read a probe written by :func:`save_hazard_probe`, on top of the world model ``model``."""
    tensors, meta = read_addon(path, HAZARD_KIND, model.embed_dim, "hazard probe")
    probe = HazardProbe(
        model,
        float(meta["reach_px"]),
        int(meta["points"]),
        float(meta["spacing_px"]),
        int(meta["hidden"]),
    )
    load_state(probe.net, tensors, path)
    return probe.eval()
