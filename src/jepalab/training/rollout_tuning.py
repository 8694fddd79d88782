"""Stage two of a world model's training: the predictor learns to roll out, the encoder frozen.

A JEPA trained by one-step prediction (``objective.prediction one-step``) keeps the most of
a fast arm in its embedding (BENCHMARKS, Reacher session 19), but its predictor has only
taken single steps from real embeddings, and over a plan's horizon its errors compound: on
Reacher the open-loop error after 8 steps is 40 times the first step's. Here the encoder is
frozen, every frame of the run's dataset is encoded once, and the predictor alone is
trained on open-loop rollouts of ``horizon`` world-model steps (plus the one-step
predictions it already makes), as the planner uses it. Without images in the loop a step
costs little, and the targets stand still.

With ``train.rollout_tuning_hidden > 0`` the predictor tuned is a fresh one of that width
(``rollout_tuning_layers`` deep), trained from scratch, while stage one keeps the narrower
predictor it trains the encoder with (on Reacher that encoder planned better than one
trained with the wide predictor, 0.64 against 0.50 of 50 tasks, within their noise;
session 23).

With ``train.rollout_tuning_agent_episodes > 0``, stage one's planning agent first plays
that many tasks of the run's world, and half of every batch are windows of its episodes.
The planner drives the arm with near-saturated torques where the explorer seldom went,
and there stage one's predictor errs 5.7 times as much as on the data (BENCHMARKS,
session 22); the encoder is frozen, so the embeddings the agent saw are the targets.

With ``train.rollout_tuning_rounds > 1``, more rounds follow (DAgger's idea for a world
model): the agent that evaluation builds (the tuned predictor, with detours and routes
where ``agent.*`` asks for them) plays ``rollout_tuning_round_episodes`` new tasks, and the
tuned predictor trains ``rollout_tuning_round_steps`` more steps with those episodes as
the agent's half of every batch (the earlier agent's are dropped). Stage one's agent fails
most tasks far from the goal; the tuned agent's misses rest near it, at the folded
elbow's limit, where session 39 found the predictor's error as large as the goal cost's
slope.

The run's checkpoint is then rewritten atomically with the tuned predictor under
``tuned_predictor`` beside stage one's model, which stays as it was (a resumed run goes on
from it exactly); its header records the tuning and the predictor's shape, and
:func:`~jepalab.training.load_world_model` plans with it.

On Reacher (1500 episodes) tuning the 256-wide predictor 3000 steps (about 2 minutes) took
the bench from 0.205 to 0.300 of 200 tasks (BENCHMARKS, session 21); a fresh 512-wide,
3-layer one trained 10000 steps (about 22 minutes) to 0.565 (session 23), and with half
of its batches from 400 of the agent's episodes (12 minutes to play) to 0.700 (session 24).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..config import RunConfig
from ..data import EpisodeDataset
from ..envs import env_from_config
from ..errors import ConfigError, JepalabError
from ..eval.evaluate import Learned, make_agent, run_episodes, with_memory_modules
from ..memory import ShortTermMemory
from ..protocols import GoalTask
from ..world_model import WorldModel, make_predictor
from .checkpoint import load_state, read_checkpoint, save_checkpoint, split_prefix, with_prefix
from .trainer import KIND, TUNED, build_model, load_world_model

VAL_EPISODES = 0.05  # the last episodes (the dataset's, the agent's), for the before/after error
# The agent's tasks; elsewhere: data 0+, evaluation 1e6+, validation 2e6+, experience 3e6+.
AGENT_SEED = 5_000_000
AGENT_SHARE = 0.5  # of every batch, when the agent has played
ROUND_SEEDS = 100_000  # round r >= 2 plays seeds from AGENT_SEED + (r - 1) * ROUND_SEEDS
FIGURES = ("before", "after", "agent_before", "agent_after")
LATER = ("agent_before", "agent_after", "after")  # round r's, as round<r>_<figure>


def tune_rollouts(cfg: RunConfig, progress: bool = True) -> dict[str, list[float]]:
    """Tune the predictor of the run in ``cfg.out_dir`` as ``cfg.train.rollout_tuning_*``
    say; return the held-out open-loop error per horizon step, ``before`` and ``after`` (on
    the dataset's last episodes; ``agent_before`` and ``agent_after`` on the agent's, when it
    played; ``round<r>_agent_before``, ``round<r>_agent_after`` and ``round<r>_after`` for
    each later round). The checkpoint is rewritten after each round, and its header says
    how many were played: a resumed run plays only those it still owes, and a finished
    one is left as it is (resuming it does not tune twice)."""
    check_config(cfg)
    t = cfg.train
    horizon = t.rollout_tuning_horizon
    if t.rollout_tuning_steps == 0:
        raise ConfigError("train.rollout_tuning_steps is 0: nothing to tune")
    path = Path(cfg.out_dir) / "checkpoints" / "last.safetensors"
    tensors, meta = read_checkpoint(path, KIND)
    played = meta["rollout_tuning"].get("rounds", 1) if "rollout_tuning" in meta else 0
    if played >= t.rollout_tuning_rounds:
        return _figures(meta["rollout_tuning"])
    if played == 0:  # stage one's model
        model = build_model(cfg, tuple(meta["obs_shape"]), int(meta["action_dim"]))
        load_state(model, split_prefix(tensors, "model"), path)
    else:  # the tuned predictor in place of stage one's
        model = load_world_model(path)[0]
    model.requires_grad_(False)

    z, a, starts, val = _embedded_windows(model, cfg, horizon, progress)
    if len(starts) == 0 or len(val) == 0:
        raise ConfigError(
            f"rollout tuning over {horizon} steps needs at least two episodes longer than "
            f"{horizon} world-model steps (model.frame_skip {cfg.model.frame_skip})"
        )
    if played == 0:
        meta["rollout_tuning"] = _round_one(model, cfg, z, a, starts, val, progress)
        tensors.update(with_prefix(model.predictor.state_dict(), TUNED))
        save_checkpoint(path, tensors, meta)
    if t.rollout_tuning_rounds > max(played, 1):
        learned = with_memory_modules(model, cfg, progress=progress)
    for r in range(max(played, 1) + 1, t.rollout_tuning_rounds + 1):
        meta["rollout_tuning"].update(
            _later_round(r, model, cfg, z, a, starts, val, learned, progress)
        )
        tensors.update(with_prefix(model.predictor.state_dict(), TUNED))
        save_checkpoint(path, tensors, meta)  # after each round: a resume goes on from here
    return _figures(meta["rollout_tuning"])


def _figures(tuning: dict) -> dict[str, list[float]]:
    """The error figures of a checkpoint header's ``rollout_tuning``."""
    later = (f"round{r}_{k}" for r in range(2, 1 + tuning.get("rounds", 1)) for k in LATER)
    return {k: tuning[k] for k in (*FIGURES, *later) if k in tuning}


def _round_one(
    model: WorldModel,
    cfg: RunConfig,
    z: torch.Tensor,
    a: torch.Tensor,
    starts: np.ndarray,
    val: np.ndarray,
    progress: bool,
) -> dict:
    """Stage one's agent plays (if asked), then the predictor (a fresh one, if asked) is
    tuned; returns the header's ``rollout_tuning``."""
    t = cfg.train
    horizon = t.rollout_tuning_horizon
    agent: dict[str, float] = {}
    agent_starts, agent_val = np.zeros(0, int), np.zeros(0, int)
    if t.rollout_tuning_agent_episodes > 0:  # stage one's agent, before any predictor changes
        seeds = range(AGENT_SEED, AGENT_SEED + t.rollout_tuning_agent_episodes)
        za, aa, agent_starts, agent_val, agent["agent_success"] = _agent_windows(
            model, cfg, seeds, None, progress
        )
        agent_starts, agent_val = agent_starts + len(z), agent_val + len(z)
        z, a = torch.cat([z, za]), torch.cat([a, aa])
    rng = np.random.default_rng(t.seed)
    held_out = {
        "": val[rng.permutation(len(val))[:4096]],
        "agent_": agent_val[rng.permutation(len(agent_val))[:4096]],
    }
    held_out = {k: v for k, v in held_out.items() if len(v)}
    # stage one's predictor, then the tuned one
    figures = {f"{k}before": _curve(model, z, a, i, horizon) for k, i in held_out.items()}
    hidden, layers, warmup = cfg.model.predictor_hidden, cfg.model.predictor_layers, 0
    if t.rollout_tuning_hidden > 0:
        hidden, layers, warmup = t.rollout_tuning_hidden, t.rollout_tuning_layers, t.warmup_steps
        torch.manual_seed(t.seed)
        model.predictor = fresh_predictor(cfg, model).train(model.training)
    _train(model, cfg, z, a, starts, agent_starts, t.rollout_tuning_steps, warmup, rng, progress)
    figures.update({f"{k}after": _curve(model, z, a, i, horizon) for k, i in held_out.items()})
    return {
        "steps": t.rollout_tuning_steps,
        "horizon": horizon,
        "hidden": hidden,
        "layers": layers,
        "agent_episodes": t.rollout_tuning_agent_episodes,
        **agent,
        **figures,
        "rounds": 1,
    }


def _later_round(
    r: int,
    model: WorldModel,
    cfg: RunConfig,
    z: torch.Tensor,
    a: torch.Tensor,
    starts: np.ndarray,
    val: np.ndarray,
    learned: Learned,
    progress: bool,
) -> dict:
    """Round ``r`` >= 2: the agent that plans with the tuned predictor (and ``learned``'s
    detours and routes) plays ``train.rollout_tuning_round_episodes`` new tasks, and the
    predictor goes on training with those episodes as the agent's half of every batch.
    Returns the header entries of the round (``rounds`` = ``r``)."""
    t = cfg.train
    horizon = t.rollout_tuning_horizon
    first = AGENT_SEED + (r - 1) * ROUND_SEEDS
    seeds = range(first, first + t.rollout_tuning_round_episodes)
    za, aa, agent_starts, agent_val, success = _agent_windows(model, cfg, seeds, learned, progress)
    agent_starts, agent_val = agent_starts + len(z), agent_val + len(z)
    z, a = torch.cat([z, za]), torch.cat([a, aa])
    rng = np.random.default_rng(t.seed + r)
    held_out = val[rng.permutation(len(val))[:4096]]
    agent_held_out = agent_val[rng.permutation(len(agent_val))[:4096]]
    before = _curve(model, z, a, agent_held_out, horizon)
    steps = t.rollout_tuning_round_steps
    _train(
        model, cfg, z, a, starts, agent_starts, steps, t.warmup_steps, rng, progress, f"round {r}"
    )
    after = _curve(model, z, a, agent_held_out, horizon)
    data_after = _curve(model, z, a, held_out, horizon)
    return {
        "rounds": r,
        f"round{r}_steps": steps,
        f"round{r}_agent_episodes": len(seeds),
        f"round{r}_agent_success": success,
        f"round{r}_agent_before": before,
        f"round{r}_agent_after": after,
        f"round{r}_after": data_after,
    }


def _errors(
    model: WorldModel, z: torch.Tensor, a: torch.Tensor, idx: np.ndarray, horizon: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Open-loop error per step ``(horizon,)`` and the one-step error of the windows of
    embeddings ``z (N, D)`` and actions ``a (N, A)`` that start at rows ``idx``."""
    w = torch.as_tensor(idx)[:, None] + torch.arange(horizon + 1)
    zw, aw = z[w], a[w[:, :-1]]  # (B, H + 1, D), (B, H, A)
    rolled = model.rollout(zw[:, 0], aw)
    one = model.rollout(zw[:, :-1].flatten(0, 1), aw.flatten(0, 1)[:, None])
    one_step = (one[:, 0] - zw[:, 1:].flatten(0, 1)).pow(2).mean()
    return (rolled - zw[:, 1:]).pow(2).mean((0, 2)), one_step


@torch.no_grad()
def _curve(
    model: WorldModel, z: torch.Tensor, a: torch.Tensor, idx: np.ndarray, horizon: int
) -> list[float]:
    """:func:`_errors`' open-loop error per step, as a figure for the checkpoint header."""
    return _errors(model, z, a, idx, horizon)[0].tolist()


def _train(
    model: WorldModel,
    cfg: RunConfig,
    z: torch.Tensor,
    a: torch.Tensor,
    starts: np.ndarray,
    agent_starts: np.ndarray,
    steps: int,
    warmup: int,
    rng: np.random.Generator,
    progress: bool,
    desc: str = "tune rollouts",
) -> None:
    """Train ``model.predictor`` alone ``steps`` steps on windows from ``starts`` (and
    :data:`AGENT_SHARE` of each batch from ``agent_starts``, if any): the learning rate
    warms up over ``warmup`` steps and falls on a cosine to zero, where the tuning settles.
    Raises before anything is written if the loss stops being finite."""
    t = cfg.train
    n_agent = round(t.rollout_tuning_batch * AGENT_SHARE) if len(agent_starts) else 0
    params = list(model.predictor.requires_grad_(True).parameters())
    opt = torch.optim.AdamW(params, lr=t.rollout_tuning_lr, weight_decay=t.weight_decay)
    for step in tqdm(range(steps), desc=desc, disable=not progress):
        warm = min(1.0, (step + 1) / warmup) if warmup else 1.0
        for g in opt.param_groups:
            g["lr"] = t.rollout_tuning_lr * warm * 0.5 * (1 + math.cos(math.pi * step / steps))
        batch = np.concatenate(
            [
                rng.choice(agent_starts, n_agent),
                rng.choice(starts, t.rollout_tuning_batch - n_agent),
            ]
        )
        rolled, one = _errors(model, z, a, batch, t.rollout_tuning_horizon)
        loss = rolled.mean() + one
        if not torch.isfinite(loss):  # before the checkpoint is touched
            raise JepalabError(f"rollout tuning loss became {float(loss.detach())} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, t.grad_clip)
        opt.step()
    model.predictor.requires_grad_(False)


def fresh_predictor(cfg: RunConfig, model: WorldModel) -> torch.nn.Module:
    """A newly initialised ``cfg.model.predictor`` of ``cfg.train.rollout_tuning_hidden``
    and ``_layers`` for ``model``; it reads the action alone (no scene glimpse here)."""
    t = cfg.train
    return make_predictor(
        cfg.model.predictor,
        model.embed_dim,
        model.action_dim,
        t.rollout_tuning_hidden,
        t.rollout_tuning_layers,
    )


def check_config(cfg: RunConfig) -> None:
    """Raise :class:`ConfigError` unless ``cfg.train.rollout_tuning_*`` can run (called
    before training too, so that a bad setting fails before the first step, not after)."""
    t = cfg.train
    if t.rollout_tuning_steps < 0:
        raise ConfigError(f"train.rollout_tuning_steps must be >= 0, got {t.rollout_tuning_steps}")
    if t.rollout_tuning_steps == 0:
        return
    for name, value in (("horizon", t.rollout_tuning_horizon), ("batch", t.rollout_tuning_batch)):
        if value < 1:
            raise ConfigError(f"train.rollout_tuning_{name} must be >= 1, got {value}")
    if t.rollout_tuning_hidden < 0 or t.rollout_tuning_layers < 1:
        raise ConfigError(
            "train.rollout_tuning_hidden must be >= 0 and train.rollout_tuning_layers >= 1, "
            f"got {t.rollout_tuning_hidden} and {t.rollout_tuning_layers}"
        )
    if not t.rollout_tuning_lr > 0:
        raise ConfigError(f"train.rollout_tuning_lr must be > 0, got {t.rollout_tuning_lr}")
    if cfg.model.scene_channels > 0:
        raise ConfigError(
            "rollout tuning does not read a scene glimpse yet: use model.scene_channels 0"
        )
    if t.rollout_tuning_agent_episodes < 0 or t.rollout_tuning_agent_episodes == 1:
        raise ConfigError(
            "train.rollout_tuning_agent_episodes must be 0 (none) or >= 2 (some are held "
            f"out), got {t.rollout_tuning_agent_episodes}"
        )
    if t.rollout_tuning_rounds < 1:
        raise ConfigError(
            f"train.rollout_tuning_rounds must be >= 1, got {t.rollout_tuning_rounds}"
        )
    if t.rollout_tuning_rounds > 1 and (
        t.rollout_tuning_round_episodes < 2 or t.rollout_tuning_round_steps < 1
    ):
        raise ConfigError(
            "later rounds of rollout tuning need train.rollout_tuning_round_episodes >= 2 (some "
            "are held out) and train.rollout_tuning_round_steps >= 1, got "
            f"{t.rollout_tuning_round_episodes} and {t.rollout_tuning_round_steps}"
        )
    if t.rollout_tuning_agent_episodes > 0 or t.rollout_tuning_rounds > 1:
        env = env_from_config(cfg.env)
        env.close()
        if not isinstance(env, GoalTask):
            raise ConfigError(
                "train.rollout_tuning_agent_episodes and _rounds need a world with tasks to play "
                f"(a GoalTask); {cfg.env.name!r} has none"
            )


@torch.no_grad()
def _embedded_windows(
    model: torch.nn.Module, cfg: RunConfig, horizon: int, progress: bool
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """Every episode encoded once, at world-model steps (every ``model.frame_skip`` frames,
    from each offset, the actions between averaged as the trainer's windows do): embeddings
    ``(N, D)``, the action after each ``(N, A)``, and the rows where a window of
    ``horizon`` steps starts, training and held out."""
    skip = cfg.model.frame_skip
    zs, acts, starts, val, row = [], [], [], [], 0
    model.eval()
    with EpisodeDataset(cfg.data_path) as data:  # one episode in memory at a time
        data.check_compatible(model.obs_shape, model.action_dim)
        n_val = max(1, round(VAL_EPISODES * data.num_episodes))
        for i in tqdm(range(data.num_episodes), desc="encode", disable=not progress):
            ep = data.episode(i)
            z = model.encode(torch.from_numpy(ep["obs"]))
            actions = np.concatenate([ep["actions"], np.zeros_like(ep["actions"][:1])])
            for offset in range(min(skip, len(z))):
                frames = np.arange(offset, len(z), skip)
                a = np.stack([actions[f : f + skip].mean(0) for f in frames])  # last: unused
                zs.append(z[frames])
                acts.append(torch.from_numpy(a).float())
                first = row + np.arange(max(0, len(frames) - horizon))
                (val if i >= data.num_episodes - n_val else starts).append(first)
                row += len(frames)
    return torch.cat(zs), torch.cat(acts), np.concatenate(starts), np.concatenate(val)


def _agent_windows(
    model: WorldModel, cfg: RunConfig, seeds: range, learned: Learned | None, progress: bool
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray, float]:
    """The planning agent plays the tasks of ``seeds`` (``eval.batch_envs`` side by side, as
    evaluation plays them): with ``learned=None`` the plain planner (stage one's agent),
    else the agent :func:`~jepalab.eval.evaluate.make_agent` builds with those modules.
    Returns its episodes as embeddings ``(N, D)`` at world-model steps, the action after
    each ``(N, A)`` (zeros after an episode's last), the rows where a window of
    ``train.rollout_tuning_horizon`` steps starts, training and held out (the last
    episodes), and the agent's success rate."""
    horizon, batch = cfg.train.rollout_tuning_horizon, cfg.eval.batch_envs
    memory = ShortTermMemory(capacity=2**62)  # keeps every episode
    success: list[bool] = []
    model.eval()
    with tqdm(total=len(seeds), desc="agent plays", disable=not progress) as bar:
        for b in range(0, len(seeds), batch):
            part = list(seeds[b : b + batch])
            agent = make_agent(model, cfg, learned) if learned is not None else None
            success += run_episodes(model, cfg, part, agent=agent, memory=memory).success
            bar.update(len(part))
    zs, acts, starts, val, row = [], [], [], [], 0
    played = memory.trajectories()
    n_val = max(1, round(VAL_EPISODES * len(played)))
    for i, (states, actions) in enumerate(played):
        zs.append(states)
        acts.append(torch.cat([actions, torch.zeros_like(actions[:1])]))
        (val if i >= len(played) - n_val else starts).append(
            row + np.arange(max(0, len(states) - horizon))
        )
        row += len(states)
    starts, val = np.concatenate(starts), np.concatenate(val)
    if len(starts) == 0 or len(val) == 0:
        raise JepalabError(
            f"the agent's {len(seeds)} episodes leave no windows of {horizon} world-model steps to "
            "tune on, for training and held out (they ended sooner): play more tasks"
        )
    return torch.cat(zs), torch.cat(acts), starts, val, float(np.mean(success))
