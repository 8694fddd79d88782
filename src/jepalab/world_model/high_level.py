"""The high level of a hierarchical JEPA (H-JEPA): one predicted step spans ``k`` low-level steps.

Design choice, and why:

* **Same embedding space.** The high level encodes with the low level's (frozen) encoder and
  predicts in its embedding space. A predicted high-level state is then directly a goal the
  low-level planner can pursue, a *subgoal*, with no translation between levels; and the
  targets it learns from are fixed, so it cannot collapse.
* **Abstract in time and action.** One step is ``k`` world-model steps. Its action, a
  *macro-action*, is one action held for those ``k`` steps: a heading, not how to get
  round each corner. It learns what the low level says ``k`` steps of each would do, from
  the states of the same exploration data
  (:func:`~jepalab.training.high_level.train_high_level` says why not the data's own
  ``k``-step outcomes).
* **A wider look.** In ``k`` steps the agent meets walls farther away, so the predictor
  reads a wider glimpse of the low level's scene map around the same located agent.

It is a :class:`~.jepa.WorldModel` (the same ``encode``, ``scene_map``, ``rollout`` and
``energy``), so the planners and the subgoal search work on it unchanged. Only the predictor
is its own; the encoder and the scene map are the low level's modules, shared.

Shapes: ``N`` rollouts, ``E`` scenes, ``D`` embedding size, ``A`` action size, ``M`` macro
steps.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import JepalabError
from .jepa import WorldModel
from .predictor import make_predictor
from .scene import glimpse_offsets


class HighLevelModel(WorldModel):
    """A world model whose step is ``steps`` steps of ``low`` (whose modules it shares).

    Args:
        low: the trained low-level world model; its encoder and scene map are used frozen.
        steps: ``k``, low-level (world-model) steps per high-level step.
        hidden, layers: size of the MLP predictor.
        glimpse_points, glimpse_spacing_px: the wider ``P x P`` glimpse of the scene map
            (used when ``low`` reads a scene).
    """

    def __init__(
        self,
        low: WorldModel,
        steps: int,
        hidden: int = 256,
        layers: int = 2,
        glimpse_points: int = 9,
        glimpse_spacing_px: float = 4.0,
    ) -> None:
        if steps < 1:
            raise JepalabError(
                f"a high-level step must span at least 1 low-level step, got {steps}"
            )
        # Not WorldModel.__init__: every module but the predictor is the low level's own.
        nn.Module.__init__(self)
        self.obs_shape, self.action_dim, self.embed_dim = (
            low.obs_shape,
            low.action_dim,
            low.embed_dim,
        )
        self.steps = steps
        self.encoder, self.scene = low.encoder, low.scene
        self.settings = dict(
            steps=steps,
            hidden=hidden,
            layers=layers,
            glimpse_points=glimpse_points,
            glimpse_spacing_px=glimpse_spacing_px,
        )
        cond_dim = self.action_dim
        if self.scene is not None:
            self.register_buffer(
                "offsets", glimpse_offsets(self.obs_shape, glimpse_points, glimpse_spacing_px)
            )
            cond_dim += self.scene.glimpses * glimpse_points**2 * self.scene.channels
        self.predictor = make_predictor("mlp", self.embed_dim, cond_dim, hidden, layers)
        # Median embedding distance covered by one high-level step in the training data: the
        # unit in which the subgoal search measures "the same place" and "arrived".
        self.register_buffer("step_size", torch.tensor(0.0))
        # (D, d): the directions in which states of one episode differ (the agent's place,
        # not the layout): the subgoal search tells places apart along them.
        self.register_buffer("basis", torch.zeros(self.embed_dim, 0))

    def step(
        self, z: torch.Tensor, a: torch.Tensor, scene: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One high-level step: ``(N, D), (N, A) macro-actions -> (N, D)`` embeddings ``k``
        low-level steps later."""
        if self.scene is not None:
            if scene is None:
                raise JepalabError("this high-level model reads the scene: pass scene=")
            a = torch.cat([a, self.scene.read(scene, z, self.offsets)], -1)
        return self.predictor.step(z, a)

    def own_state(self) -> dict[str, torch.Tensor]:
        """The tensors that are the high level's own (the predictor), for checkpoints."""
        own = ("predictor.", "step_size", "basis")
        return {k: v for k, v in self.state_dict().items() if k.startswith(own)}
