"""Typed run configuration: dataclasses, YAML files and dotted command-line overrides.

A run is described by one :class:`RunConfig`. It can be built in Python, loaded from YAML
(:func:`load_config`) and changed with dotted overrides such as ``--train.lr 3e-4``
(:func:`apply_overrides`). Every run writes its resolved config to ``config.yaml`` next to
its outputs, so any result can be reproduced from its folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .actor.planner import PlannerConfig
from .errors import ConfigError


@dataclass
class EnvConfig:
    """The world to act in."""

    name: str = "two-rooms"
    action_noise: float = 0.05


@dataclass
class DataConfig:
    """Exploration data: how it is collected and how windows are read."""

    path: str = ""  # empty: <out_dir>/data.h5
    episodes: int = 1000
    episode_len: int = 100
    seed: int = 0  # episode i uses seed `seed + i`; evaluation seeds must be disjoint
    workers: int = 2
    window: int = 8  # T frames and T-1 actions per training sample
    val_fraction: float = 0.05
    in_memory: bool = True  # load the dataset into RAM when it fits; False reads lazily
    # Frames of a non-built-in env (Gymnasium id, module:Class) are its env.render() resized
    # to obs_size x obs_size; the built-in worlds keep their own 65x65 observations.
    obs_size: int = 64
    # auto (scripted for the built-in worlds, random otherwise) | scripted | random |
    # package.module:callable, called as policy(obs, info, rng) -> action (data/collect.py)
    policy: str = "auto"


@dataclass
class ModelConfig:
    """Perception encoder and world-model predictor."""

    encoder: str = "keypoints"  # keypoints | cnn | cnn-map (perception/encoder.py)
    channels: tuple[int, ...] = (16, 16, 32)  # the last is the number of keypoints
    pool: int = 2  # average-pool the image by this factor before the convolutions
    embed_dim: int = 32
    predictor: str = "mlp"  # mlp | gru | transformer
    predictor_hidden: int = 128  # the scene glimpse does the hard part; 2x faster planning than 256
    predictor_layers: int = 2
    # > 0: the predictor also reads this many channels of a glimpse of the walls around the
    # agent (keypoints encoder only; see world_model/scene.py). 0: the plain predictor, which
    # must infer walls and doors from the embedding alone (20x the error at the door).
    scene_channels: int = 4
    # Environment steps per world-model step. The model predicts every frame_skip-th frame
    # from the mean of the actions in between; the agent holds each planned action that many
    # steps. 2 halves the sequential depth of a plan (replanning latency) for the same reach.
    frame_skip: int = 2
    # Pictures stacked on each observation's channel axis (reacher: 2, the last two frames);
    # > 1 encodes them one at a time and embeds the last and its change (speed).
    frames: int = 1


@dataclass
class ObjectiveConfig:
    """Anti-collapse objective and auxiliary losses (see ``world_model/objectives``)."""

    name: str = "vicreg"  # vicreg | sigreg | ema
    # Weights relative to the prediction loss. Kept small: a strong variance term early in
    # training is satisfied by the static layout alone and the agent is never encoded.
    std_weight: float = 0.1  # VICReg variance hinge
    cov_weight: float = 0.004  # VICReg covariance
    sigreg_weight: float = 0.01
    sigreg_projections: int = 64
    ema_momentum: float = 0.99
    idm_weight: float = 1.0  # linear inverse-dynamics auxiliary loss; 0 disables it
    # Time-contrastive auxiliary loss (world_model/time_contrast.py): each frame's embedding
    # nearer its successor than other frames', so look-alikes far apart in time are pulled
    # apart. 0 disables it.
    time_contrast_weight: float = 0.0
    time_contrast_temperature: float = 1.0  # divides squared embedding distances
    time_contrast_queue: int = 4096  # recent embeddings kept as extra negatives
    # Pixel-neighbourhood auxiliary loss (world_model/pixel_neighbours.py): each frame's
    # nearest frames in slightly blurred pixels are its nearest in embedding (SNE). On the
    # Reacher it lifts most folded goals' swapped V above a near miss, yet the bench fell
    # from 0.745 to 0.595 (BENCHMARKS, session 30). 0 disables it.
    pixel_neighbours_weight: float = 0.0
    pixel_neighbours_k: int = 10  # the neighbour whose distance sets each frame's scale
    pixel_neighbours_blur: float = 2.0  # Gaussian blur of the pictures, pixels
    pixel_neighbours_queue: int = 2048  # recent frames kept as extra candidates
    # What the predictor learns from: "rollout" predicts every frame of a window open loop
    # from the first, as the planner uses it; "one-step" predicts each frame from the
    # encoding of the one before (teacher forcing). On Reacher one-step kept more of the arm
    # in the embedding and rolled out better over 12 steps (benchmarks/reacher_dynamics.py).
    prediction: str = "rollout"  # rollout | one-step


@dataclass
class CostConfig:
    """Intrinsic cost weights for planning (energy in embedding space)."""

    terminal_weight: float = 1.0  # distance of the last predicted embedding to the goal
    # Mean distance over the horizon. With the terminal term alone, every plan that ends at
    # the goal ties, however it dawdles, and receding-horizon control keeps postponing the
    # goal; a small running term breaks the tie toward getting there early.
    running_weight: float = 0.1
    # The trained critic's cost to come after the horizon (used only when a critic is given).
    critic_weight: float = 1.0
    # How close the plan comes to a forbidden region, by a trained hazard probe (used only
    # when a probe is given): 0 far away, 1 inside.
    hazard_weight: float = 10.0


@dataclass
class TrainConfig:
    """Optimisation, logging and checkpointing."""

    steps: int = 4500
    batch_size: int = 32  # the global batch: under torchrun each rank loads batch/world_size
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 0  # 0: all cores of this process's share
    device: str = "cpu"  # cpu | cuda (rank r of a node uses cuda:r, NCCL between ranks)
    # bf16 autocast of the training step; on a CPU only where it has native bf16 (AVX-512
    # BF16, AMX, Arm BF16), elsewhere emulated bf16 is slower than fp32 and the run stays fp32.
    amp: bool = False
    compile: bool = False  # torch.compile the loss (slow first steps; pays off on long runs)
    log_every: int = 25
    ckpt_every: int = 500
    # Stage two (training/rollout_tuning.py), after the last step: the encoder frozen, the
    # predictor trained this many steps on open-loop rollouts of rollout_tuning_horizon
    # world-model steps, batches of rollout_tuning_batch windows; 0: none.
    rollout_tuning_steps: int = 0
    rollout_tuning_horizon: int = 8
    rollout_tuning_batch: int = 256
    rollout_tuning_lr: float = 3e-4
    # > 0: stage two trains a fresh predictor this wide and rollout_tuning_layers deep from
    # scratch (its learning rate warming up over warmup_steps) instead of tuning the one stage
    # one trained with the encoder; 0: tune that one.
    rollout_tuning_hidden: int = 0
    rollout_tuning_layers: int = 2
    # > 0: before stage two, stage one's planning agent plays this many tasks of the run's
    # world (as evaluation does, seeds from 5,000,000), and half of every tuning batch are
    # windows of its episodes: the planner drives where the exploration data is thin.
    rollout_tuning_agent_episodes: int = 0
    # > 1: after stage two, more rounds of the same: the agent as evaluation plays it (the
    # tuned predictor, with detours and routes if agent.* asks) plays
    # rollout_tuning_round_episodes new tasks (seeds from 5,100,000 for round 2, 5,200,000
    # for round 3, ...), and the tuned predictor trains rollout_tuning_round_steps more
    # steps with those episodes as the agent's half of every batch: it learns where the
    # agent that uses it goes, not only where stage one's agent went.
    rollout_tuning_rounds: int = 1
    rollout_tuning_round_episodes: int = 200
    rollout_tuning_round_steps: int = 4000
    # Also log to this Weights & Biases project (pip install jepalab[wandb]); empty: off.
    # TensorBoard (<out_dir>/tb) is written either way.
    wandb_project: str = ""


@dataclass
class AgentConfig:
    """How the agent chooses between reacting (Mode-1) and deliberating (Mode-2)."""

    mode: str = "auto"  # auto | mode1 | mode2; without a Mode-1 policy the agent always plans
    # auto: Mode-2 acts where Mode-1's ensemble spread (in action scales) exceeds this ...
    max_spread: float = 0.25
    # ... or where the cost to come (critic, else goal distance) has not improved for this
    # many decisions: Mode-1 is stuck, deliberate.
    patience: int = 3
    # Compile Mode-1's decision (observation to action) ahead of time, AOTInductor: 0.34-0.39
    # -> 0.15-0.19 ms at one environment on 2 cores. Building the agent compiles it (~25 s
    # once per model and policy; needs a C++ compiler)
    compile: bool = False
    # Learning from experience (jepalab bench agent): Mode-2 episodes gathered into the
    # short-term memory, then TD steps for the critic and imitation steps for Mode-1. The
    # horizon-6 planner + a critic of the goal distance on validation seeds: 300 -> 0.88,
    # 1000 -> 0.93 (100 tasks); 1000 -> 0.87, 3000 -> 0.905 (200 tasks, a newer model);
    # with a critic of the cost of time, 3000 -> 1.0 (400 tasks).
    memory_episodes: int = 3000
    critic_steps: int = 20000
    mode1_steps: int = 5000
    # Width of each Mode-1 member. Its weights are most of what a decision reads; after
    # Mode-2's work has evicted them from the caches, 256 cost 0.31 ms a decision, 128 0.26
    # (torch.compile, 2 cores). On validation seeds 128 acted as well as 256.
    mode1_hidden: int = 128
    # Detours (configurator/detour.py): where Mode-2 has rested off the goal for this many
    # decisions (0: never), it aims at a remembered state for detour_steps decisions, then
    # at the goal again. Resting: moved less than detour_rest typical steps (the median
    # squared embedding change of one step) over two decisions, the goal cost not falling
    # by 5% and above detour_cost typical steps. Targets: detour_bank dataset frames.
    detour_patience: int = 0
    detour_steps: int = 15
    detour_cost: float = 0.3
    detour_rest: float = 1.0
    detour_bank: int = 2000
    # Routes (configurator/routes.py, memory/episodic.py): every route_every-th dataset frame
    # is a node of the episodic memory (0: no routes); Mode-2 aims route_look steps ahead
    # on the shortest way to the goal's node. Likeness edges: each node's route_neighbours
    # nearest in embedding within route_embed_radius typical steps whose pictures, blurred
    # route_blur px, are within route_picture_radius typical steps. With detours, the
    # agent follows the route except while on a detour.
    route_every: int = 0
    route_look: float = 8.0
    route_neighbours: int = 16
    route_embed_radius: float = 1.0
    route_picture_radius: float = 1.5
    route_blur: float = 2.0
    hazard_steps: int = 3000  # training steps of the hazard probe (bench agent, Hazard Rooms)
    ensemble_steps: int = 1000  # training steps of the predictor ensemble (bench agent)
    # planner.risk of the risk-averse planner bench agent measures: the spread of a step is
    # ~1e-4 where the data are dense, so 1000 weighs in where the model is unsure
    risk: float = 1000.0


@dataclass
class HierarchyConfig:
    """The high level (H-JEPA) and the Configurator that hands its subgoals down.

    ``merge`` and ``reach`` are in units of the high level's typical full-strength step
    (about 14 px in the maze), so they fit any embedding scale."""

    steps: int = 4  # world-model steps per high-level step (k)
    hidden: int = 256  # high-level predictor width
    glimpse_points: int = 9  # the high level's P x P glimpse of the scene map ...
    glimpse_spacing_px: float = 4.0  # ... this far apart: it sees walls a macro step away
    train_steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    rollout: int = 2  # high-level steps per training sequence
    depth: int = 24  # high-level steps the subgoal search looks ahead at most
    merge: float = 0.2  # imagined states closer than this are one place
    reach: float = 0.2  # a state this close to a (sub)goal has reached it
    max_states: int = 2000  # the search stops growing past this many imagined states
    lookahead: int = 1  # hand the low level the subgoal this many high-level steps ahead
    stall: int = 8  # decisions without reaching the next subgoal before searching again
    # searches in a row that bring the agent no closer to the goal before it abstains
    give_up: int = 5
    low_horizon: int = 4  # the low-level planner's horizon when it follows subgoals


# Recipes and scoring choices are made on seeds from here on: never a training seed (from
# 0) nor an evaluation one (``eval.seed``, from 1,000,000), so that no choice is fitted to
# the figures it is judged by. Benchmark scripts default to it.
VALIDATION_SEED = 2_000_000


@dataclass
class EvalConfig:
    """Goal-reaching evaluation on episodes whose seeds no training episode used."""

    episodes: int = 50
    seed: int = 1_000_000
    batch_envs: int = 25  # environments planned for together
    gifs: int = 4
    latency_replans: int = 50  # single-environment replans timed for the latency figures


@dataclass
class VideoConfig:
    """Video JEPA for intuitive physics (``bench intuitive-physics``, ``surprise``).

    Training clips come from the procedural physics world; ``train`` and ``objective``
    hold the optimiser and anti-collapse settings as for the world model."""

    frame_size: int = 32  # frames are frame_size x frame_size RGB
    frames: int = 12  # frames per training clip
    clips: int = 3000  # plausible clips generated once for training
    max_offset: int = 8  # each starts 0..max_offset frames into its scene (see plausible_clips)
    # Share of training clips drawn to show two bodies hitting each other (the hardest
    # event to predict; a third of random clips show one): 0.5 lifted validation pairs 1-3
    # points over 0.
    collide: float = 0.5
    context: int = 4  # frames before the first prediction; all the window predictor sees
    channels: int = 16  # embedding channels per map position
    hidden: int = 48  # predictor width (64 scored within noise and trained 1.35x slower)
    stride: int = 1  # pixels per map position: 1 (fine, the default) or 2
    encoder_kernel: int = 1  # map encoder convolutions: 1 (own pixel's colour) or 3 (5x5 px)
    predictor: str = "recurrent"  # recurrent (remembers the whole clip) | window (context)
    mask: float = 0.0  # share of training clips whose predictor input hides a tube (JEPA)
    patches: int = 4096  # patch vectors per step given to the anti-collapse regulariser
    spatial: str = "region"  # per-frame surprise from the error map: region | max | sum
    temporal: str = "max"  # clip surprise from per-frame surprise: max | mean
    calibration_clips: int = 200  # held-out plausible clips that set the flag threshold
    percentile: float = 99.0  # flag frames above this percentile of plausible surprise
    pairs_per_type: int = 200  # matched pairs per violation type in the benchmark
    baseline: bool = True  # also train and score the pixel-prediction twin


@dataclass
class RunConfig:
    """Everything a run needs; written to ``<out_dir>/config.yaml``."""

    out_dir: str = "runs/demo"
    env: EnvConfig = field(default_factory=EnvConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    hierarchy: HierarchyConfig = field(default_factory=HierarchyConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    video: VideoConfig = field(default_factory=VideoConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.data.path) if self.data.path else Path(self.out_dir) / "data.h5"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` (from YAML or the command line) to the field type ``tp``."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        (item_tp, *_) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.replace("(", "").replace(")", "").split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{key}' expects a list, got {value!r}")
        return tuple(_coerce(v, item_tp, key) for v in value)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(value, args[0], key)
    try:
        if tp is bool:
            if isinstance(value, str):
                low = value.lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return low in ("true", "1", "yes")
            return bool(value)
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(float(value)) if isinstance(value, str) else int(value)
        if tp is float:
            return float(value)
        if tp is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key '{key}' expects {tp.__name__}, got {value!r}") from None
    raise ConfigError(f"config key '{key}' has an unsupported type {tp!r}")


def _all_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys += _all_keys(tp, f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def _unknown(key: str) -> ConfigError:
    close = difflib.get_close_matches(key, _all_keys(RunConfig), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"unknown config key '{key}'{hint}")


def set_value(cfg: Any, key: str, value: Any, _prefix: str = "") -> None:
    """Set dotted ``key`` (e.g. ``train.lr``) on a config dataclass, converting the type."""
    head, _, rest = key.partition(".")
    full = f"{_prefix}{head}"
    hints = typing.get_type_hints(type(cfg))
    if head not in hints or head.startswith("_"):
        raise _unknown(_prefix + key)
    tp = hints[head]
    if dataclasses.is_dataclass(tp):
        if rest:
            set_value(getattr(cfg, head), rest, value, f"{full}.")
        elif isinstance(value, dict):
            for k, v in value.items():
                set_value(getattr(cfg, head), str(k), v, f"{full}.")
        else:
            raise ConfigError(f"config key '{full}' is a section; set one of its keys")
        return
    if rest:
        raise _unknown(_prefix + key)
    setattr(cfg, head, _coerce(value, tp, full))


def from_dict(data: dict[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Build a :class:`RunConfig` from a nested dict, starting from ``base`` (or defaults)."""
    cfg = base if base is not None else RunConfig()
    if not isinstance(data, dict):
        raise ConfigError("a config file must hold a mapping of sections")
    for k, v in data.items():
        set_value(cfg, str(k), v)
    return cfg


def load_config(path: str | Path, base: RunConfig | None = None) -> RunConfig:
    """Load a YAML config file over ``base`` (or the defaults)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    return from_dict(data, base)


def parse_overrides(args: list[str]) -> list[tuple[str, str]]:
    """Turn ``["--train.lr", "3e-4", "--data.episodes=10"]`` into key/value pairs."""
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise ConfigError(f"unexpected argument {arg!r}; overrides look like --train.lr 3e-4")
        key = arg[2:]
        if "=" in key:
            key, value = key.split("=", 1)
        else:
            if i + 1 >= len(args):
                raise ConfigError(f"override --{key} needs a value")
            i += 1
            value = args[i]
        pairs.append((key.replace("-", "_"), value))
        i += 1
    return pairs


def apply_overrides(cfg: RunConfig, overrides: list[tuple[str, str]]) -> RunConfig:
    """Apply dotted overrides in order; each value is parsed as the field's type."""
    for key, value in overrides:
        set_value(cfg, key, value)
    return cfg


def save_config(cfg: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    from .io import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(_plain(cfg.to_dict()), sort_keys=False))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj
