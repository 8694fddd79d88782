"""The ``jepalab`` command: collect, train, evaluate, demo, surprise, convert, bench, report.

Every subcommand takes ``--config FILE.yaml`` and dotted overrides of any config key,
e.g. ``jepalab train --train.lr 3e-4 --data.window 8``. Problems with the input end in one
line naming the problem and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import RunConfig, apply_overrides, load_config, parse_overrides
from .errors import JepalabError

BENCHES = ("two-rooms", "reacher", "point-maze", "intuitive-physics", "ddp", "agent", "hierarchy")


def bench_config() -> RunConfig:
    """The reference Two-Rooms benchmark recipe: more data, longer training, 200 episodes."""
    cfg = RunConfig(out_dir="runs/bench-two-rooms")
    cfg.data.episodes = 2000
    cfg.train.steps = 12000
    cfg.eval.episodes = 200
    cfg.eval.batch_envs = 50
    return cfg


def reacher_bench_config() -> RunConfig:
    """The MuJoCo Reacher-from-pixels recipe (envs/reacher.py): scripted exploration, no
    scene glimpse (nothing static to read), 200 evaluation tasks."""
    cfg = bench_config()
    cfg.out_dir = "runs/bench-reacher"
    cfg.env.name = "reacher"
    cfg.data.episodes = 1500
    cfg.model.scene_channels = 0
    cfg.model.predictor_hidden = 256
    # Two-Rooms' weak VICReg left the arm's elbow and speed out of the embedding entirely.
    cfg.objective.std_weight = 1.0
    cfg.objective.cov_weight = 0.04
    # Each of the two frames encoded alone (their change is the speed) by a CNN, which keeps
    # the elbow that keypoints lose; predicting each step from the encoded frame before
    # (one-step) gives rollouts that beat "the arm stays put" (BENCHMARKS, session 19).
    cfg.model.encoder = "cnn"
    cfg.model.frames = 2
    cfg.objective.prediction = "one-step"
    cfg.train.steps = 4000
    # Then a fresh, wider predictor learns 8-step rollouts from scratch, the encoder frozen:
    # its one-step errors compound less over a plan. Tuning the 256-wide one 3000 steps took
    # the bench from 0.205 to 0.300 (session 21); this took it to 0.565 (session 23).
    cfg.train.rollout_tuning_steps = 10000
    cfg.train.rollout_tuning_lr = 1e-3
    cfg.train.rollout_tuning_hidden = 512
    cfg.train.rollout_tuning_layers = 3
    # Half of every batch from the planning agent's own episodes: the planner drives the arm
    # with near-saturated torques, where the explorer's data is thin (session 22: 0.64 ->
    # 0.76 of 50 tasks with 200 episodes; 400 here, since the 200 were overfitted).
    cfg.train.rollout_tuning_agent_episodes = 400
    # Then the agent the bench evaluates (the tuned predictor, detours, routes) plays 200 more
    # tasks and the predictor trains 4000 more steps with those as the agent's half: the
    # misses rest where that agent goes (the folded elbow at its limit, session 39), which
    # stage one's agent seldom visits.
    cfg.train.rollout_tuning_rounds = 2
    # A torque of 1 adds about 4 rad/s to a joint in one step: the planner must decide every
    # environment step and look a short way ahead. With the true simulator as world model
    # (benchmarks/reacher_oracle.py) this reaches 1.0 of 50 tasks, the Two-Rooms planner
    # (24 steps of 2, decisions held 3) 0.06.
    cfg.model.frame_skip = 1
    cfg.planner.horizon = 8
    cfg.planner.action_repeat = 1
    cfg.planner.samples = 256
    cfg.planner.iterations = 3
    cfg.planner.elites = 32
    # Where the arm rests off the goal (parked far from open goals, or in a folded goal's
    # swapped V), go to a remembered arm and try again from there: 0.70-0.74 -> 0.76-0.80
    # of 50 validation tasks (seeds from 2,000,000; BENCHMARKS, session 29).
    cfg.agent.detour_patience = 8
    # Between detours, aim 8 steps ahead along the episodic memory's shortest way to the
    # goal (places joined where pictures agree, not only embeddings): 0.745 -> 0.790 of the
    # 200 bench tasks on one model; a tie (0.80) on 50 validation tasks (session 38).
    cfg.agent.route_every = 3
    return cfg


def point_maze_bench_config() -> RunConfig:
    """Gymnasium-Robotics' PointMaze (U-maze) from pixels (envs/point_maze.py): the world's
    scripted explorer, two stacked frames (the ball keeps its speed), no scene glimpse (the
    maze never changes), 200 evaluation tasks."""
    cfg = bench_config()
    cfg.out_dir = "runs/bench-point-maze"
    cfg.env.name = "point-maze"
    cfg.data.episodes = 1000
    cfg.model.scene_channels = 0
    cfg.model.frames = 2
    cfg.train.steps = 4000
    return cfg


LOOP_BENCHES = {
    "two-rooms": bench_config,
    "reacher": reacher_bench_config,
    "point-maze": point_maze_bench_config,
}
# How many world models each of them trains and plans with as one (--world-models). The
# Reacher agent plans with two, trained from seeds 0 and 1: 0.850 and 0.900 of 200 test and
# validation tasks, where one model reaches 0.828 and 0.875 on average (BENCHMARKS, session 42).
WORLD_MODELS = {"reacher": 2}


def _config(args: argparse.Namespace, extra: list[str], base: RunConfig | None = None) -> RunConfig:
    cfg = base or RunConfig()
    if getattr(args, "config", None):
        cfg = load_config(args.config, cfg)
    if getattr(args, "out", None) and args.command != "bench":
        cfg.out_dir = args.out
    return apply_overrides(cfg, parse_overrides(extra))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jepalab",
        description="JEPA world models that learn from pixels and plan in latent space.",
        epilog="Any config key can be overridden with --section.key VALUE (e.g. --train.lr 3e-4).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(
            name,
            help=help,
            description=help,
            epilog="Override any config key with --section.key VALUE.",
        )
        sp.add_argument("--config", help="YAML config file (defaults are the demo's)")
        return sp

    c = add("collect", "record exploration episodes into an HDF5 dataset")
    c.description = (
        "Record exploration episodes into an HDF5 dataset. The environment is a built-in "
        "world (two-rooms, maze, hazard-rooms, reacher, point-maze; scripted exploration), a "
        "registered Gymnasium id or package.module:ClassName; those are recorded from env.render() "
        "frames resized to --data.obs_size, with --data.policy random (the default for them) or "
        "package.module:callable, called as policy(obs, info, rng) -> action."
    )
    c.add_argument("--out", help="run folder (default runs/demo); data goes to <out>/data.h5")
    c.add_argument(
        "--env", metavar="ID", help="the environment: the same as --env.name ID (default two-rooms)"
    )
    t = add("train", "train the world model on a dataset")
    t.add_argument("--out", help="run folder (default runs/demo)")
    t.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints/last")
    e = add("evaluate", "plan to reach goals with a trained model; success rate and latency")
    e.add_argument(
        "--checkpoint",
        required=True,
        help="checkpoint file or run folder (a bench folder with several world models, "
        "model-<i>, plans with all of them as one)",
    )
    e.add_argument(
        "--ensemble-checkpoint",
        action="append",
        default=[],
        metavar="RUN",
        help="plan with this trained run's world model too (the same world, e.g. another "
        "training seed), the models as one ensemble whose goal cost is the sum of theirs; "
        "repeatable; needs --out. The learned modules below were trained on one model and "
        "cannot join",
    )
    e.add_argument(
        "--out",
        help="folder for metrics and GIFs (default: the checkpoint's run; required with "
        "--ensemble-checkpoint, so that run's own evaluation is not overwritten)",
    )
    e.add_argument(
        "--critic",
        help="a trained critic (critic.safetensors from bench agent): the planner's terminal "
        "cost, weighted by --cost.critic_weight",
    )
    e.add_argument(
        "--mode1",
        help="a distilled Mode-1 policy (mode1.safetensors from bench agent); --agent.mode "
        "auto (default), mode1 or mode2 chooses who acts; --agent.compile true compiles "
        "its decisions ahead of time (AOTInductor; ~25 s once, needs a C++ compiler)",
    )
    e.add_argument(
        "--high",
        help="a high level trained on this world model (high.safetensors from bench "
        "hierarchy, or hazard/high.safetensors from bench agent): the two-level agent "
        "follows its subgoals, the low level planning with --hierarchy.low_horizon",
    )
    e.add_argument(
        "--gate",
        help="a safety gate fitted to this world model (gate.safetensors from bench agent): "
        "the agent abstains where the task looks unfamiliar or the world surprises it",
    )
    e.add_argument(
        "--hazard",
        help="a hazard probe trained on this world model (hazard/hazard.safetensors from "
        "bench agent): plans keep out of forbidden regions, weighted by --cost.hazard_weight",
    )
    e.add_argument(
        "--ensemble",
        help="a predictor ensemble trained on this world model (ensemble.safetensors from "
        "bench agent): with --planner.risk R > 0 plans pay R times its spread along them",
    )
    d = add("demo", "collect, train, plan and evaluate in one go (Two-Rooms; --env.name maze)")
    d.add_argument("--out", help="run folder (default runs/demo)")
    s = sub.add_parser(
        "surprise",
        help="per-frame surprise of a video under a trained video JEPA; flag impossible moments",
        description="Stream a video through a video JEPA (or its pixel twin) and write "
        "per-frame surprise to <out>/surprise.csv and <out>/surprise.png. Frames are resized "
        "to the model's input. Frames whose surprise exceeds the threshold calibrated on "
        "plausible clips (stored in the checkpoint) are flagged and printed.",
    )
    s.add_argument("video", help="mp4/avi/mov/mkv/webm, gif, .npy (T,H,W[,C]) or image folder")
    s.add_argument(
        "--checkpoint",
        required=True,
        help="video model checkpoint or run folder (e.g. from bench intuitive-physics)",
    )
    s.add_argument("--out", help="output folder (default runs/surprise/<video name>)")
    s.add_argument(
        "--threshold", type=float, help="flag above this surprise (default: the calibrated one)"
    )
    v = sub.add_parser(
        "convert",
        help="convert a Minari, LeRobot v3.0 or video-folder dataset into a jepalab dataset",
        description="Read a dataset in a standard format and write it as a jepalab HDF5 "
        "episode dataset (the one `train` reads). Formats: a Minari dataset (HDF5 storage), a "
        "LeRobot v3.0 folder, or a folder of videos with <name>.npy or <name>.csv actions.",
    )
    v.add_argument("src", help="the dataset: a folder, or a Minari .hdf5 file")
    v.add_argument("--out", required=True, help="the HDF5 file to write, e.g. data.h5")
    v.add_argument(
        "--format", default="auto", help="auto (default: detect), minari, lerobot or videos"
    )
    v.add_argument(
        "--size", type=int, help="resize frames to SIZE x SIZE (default: keep a square size)"
    )
    v.add_argument(
        "--obs-key", help="the image observation (Minari) or camera (LeRobot) to read frames from"
    )
    v.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    r = sub.add_parser(
        "report",
        help="one self-contained HTML page summarising a run folder",
        description="Write a single HTML file (images embedded, no external files) with a "
        "run's summary, config, training curves, validation and planning figures and episode "
        "GIFs, from what the run folder holds.",
    )
    r.add_argument("run_dir", help="the run folder, e.g. runs/demo")
    r.add_argument("--out", help="the HTML file to write (default <run_dir>/report.html)")
    b = add("bench", "reference benchmarks; write figures as JSON")
    b.add_argument("name", choices=BENCHES, help="which benchmark")
    b.add_argument("--out", required=True, help="JSON file for the figures")
    b.add_argument("--run-dir", help="run folder (default runs/bench-<name>)")
    b.add_argument(
        "--checkpoint",
        help="intuitive-physics: score this video JEPA instead of training one; agent, "
        "hierarchy: use this world model (run folder with its data.h5; hierarchy: the maze "
        "model) instead of training one; two-rooms, reacher, point-maze: evaluate this "
        "trained world model (run folder) under the recipe's planner and agent, its training "
        "figures read from the run's metrics.json",
    )
    b.add_argument(
        "--world-models",
        type=int,
        metavar="N",
        help="two-rooms, reacher, point-maze: train N world models on the one collection "
        "(training seeds train.seed, train.seed + 1, ...; each in <run-dir>/model-<i>) and "
        "plan with them as one ensemble whose goal cost is the sum of theirs (default: "
        "reacher 2, others 1)",
    )
    b.add_argument(
        "--ensemble-checkpoint",
        action="append",
        default=[],
        metavar="RUN",
        help="two-rooms, reacher, point-maze, with --checkpoint: plan with this trained run's "
        "world model too (the same world and recipe, e.g. another training seed), the models "
        "as one ensemble whose goal cost is the sum of theirs; repeatable",
    )
    b.add_argument(
        "--two-rooms-checkpoint",
        help="hierarchy: use this Two-Rooms world model (run folder with its data.h5) instead "
        "of training one",
    )
    b.add_argument(
        "--hazard-checkpoint",
        help="agent: use this Hazard Rooms world model (run folder with its data.h5) instead "
        "of training one",
    )
    b.add_argument(
        "--baseline-checkpoint",
        help="intuitive-physics: score this pixel twin instead of training one",
    )
    return p


def run(argv: list[str]) -> int:
    from . import pipeline

    args, extra = _parser().parse_known_args(argv)
    if args.command == "collect":
        cfg = _config(args, extra)
        if args.env:
            cfg.env.name = args.env
        path = pipeline.collect(cfg)
        print(f"dataset written: {path}")
    elif args.command == "train":
        cfg = _config(args, extra)
        if args.resume:
            saved = Path(cfg.out_dir) / "config.yaml"
            if saved.exists() and not args.config:
                cfg = apply_overrides(load_config(saved), parse_overrides(extra))
        result = pipeline.train(cfg, resume=args.resume)
        from .training import DistInfo

        if not DistInfo.from_env().is_main:  # under torchrun rank 0 reports for the job
            return 0
        print(
            json.dumps(
                {
                    "steps": result.steps,
                    "train_seconds": round(result.train_seconds, 1),
                    **result.final,
                }
            )
        )
        print(f"checkpoint: {result.checkpoint}")
    elif args.command == "evaluate":
        model, saved, paths = pipeline.load_world_models(args.checkpoint, args.ensemble_checkpoint)
        modules = ("critic", "mode1", "high", "gate", "hazard", "ensemble")
        given = [f"--{m}" for m in modules if getattr(args, m)]
        if len(paths) > 1 and given:
            raise JepalabError(
                f"{', '.join(given)}: learned on one world model's embedding, and this "
                f"evaluation plans with {len(paths)} world models as one; give them with "
                "that model alone"
            )
        if args.ensemble_checkpoint and not args.out:
            raise JepalabError(
                "--ensemble-checkpoint needs --out: the default folder is the first run's, "
                "and its own evaluation there would be overwritten"
            )
        cfg = apply_overrides(
            load_config(args.config, saved) if args.config else saved, parse_overrides(extra)
        )
        if args.out:
            cfg.out_dir = args.out
        elif paths[0] != Path(args.checkpoint):  # a folder of several models: its own eval/
            cfg.out_dir = args.checkpoint
        from .actor import load_policy
        from .cost import load_critic

        critic = load_critic(args.critic) if args.critic else None
        policy = load_policy(args.mode1) if args.mode1 else None
        for name, module in (("critic", critic), ("Mode-1 policy", policy)):
            if module is not None and module.embed_dim != model.embed_dim:
                raise JepalabError(
                    f"the {name} was trained on embeddings of size {module.embed_dim}; "
                    f"the world model's are {model.embed_dim}"
                )
        high = None
        if args.high:
            from .training.high_level import load_high_level

            high = load_high_level(args.high, model)
        from .cost import load_hazard_probe
        from .eval.evaluate import Learned
        from .safety import SafetyGate

        gate = SafetyGate.load(args.gate) if args.gate else None
        hazard = load_hazard_probe(args.hazard, model) if args.hazard else None
        from .world_model.predictor_ensemble import load_predictor_ensemble

        ensemble = load_predictor_ensemble(args.ensemble, model) if args.ensemble else None
        learned = Learned(critic, policy, high, gate, hazard, ensemble)
        res = pipeline.evaluate(model, cfg, learned=learned)
        lo, hi = res.ci95
        print(
            f"success_rate={res.success_rate:.3f} (95% CI {lo:.3f}-{hi:.3f}) "
            f"episodes={res.episodes} replan_ms_median={res.replan_ms_median:.1f}"
            + (f" abstain_rate={res.abstain_rate:.3f}" if gate else "")
            + (f" hazard_rate={res.hazard_rate:.3f}" if cfg.env.name == "hazard-rooms" else "")
        )
    elif args.command == "demo":
        cfg = _config(args, extra)
        s = pipeline.run_all(cfg)
        print(f"run folder: {cfg.out_dir}")
        print(
            f"success_rate={s['success_rate']:.3f} episodes={s['episodes']} "
            f"seconds={s['seconds']:.1f}"
        )
    elif args.command == "surprise":
        if extra:
            raise JepalabError(f"surprise takes no config overrides; got {' '.join(extra)}")
        surprise(args)
    elif args.command == "convert":
        if extra:
            raise JepalabError(f"convert takes no config overrides; got {' '.join(extra)}")
        from .data import EpisodeDataset
        from .data.formats import convert

        path = convert(
            args.src, args.out, args.format, args.size, args.obs_key, args.overwrite, progress=True
        )
        with EpisodeDataset(path) as ds:
            h, w, c = ds.obs_shape
            print(
                f"wrote {path}: {ds.num_episodes} episodes, {ds.num_frames} frames of "
                f"{h}x{w}x{c}, actions of dim {ds.action_dim}, from {ds.env}"
            )
    elif args.command == "report":
        if extra:
            raise JepalabError(f"report takes no config overrides; got {' '.join(extra)}")
        from .eval.report import write_report

        print(f"report written: {write_report(args.run_dir, args.out)}")
    elif args.command == "bench" and args.two_rooms_checkpoint and args.name != "hierarchy":
        raise JepalabError("--two-rooms-checkpoint applies to the hierarchy benchmark")
    elif args.command == "bench" and args.hazard_checkpoint and args.name != "agent":
        raise JepalabError("--hazard-checkpoint applies to the agent benchmark")
    elif (
        args.command == "bench"
        and args.world_models is not None
        and (args.name not in LOOP_BENCHES or args.checkpoint)
    ):
        raise JepalabError(
            "--world-models applies to the two-rooms, reacher and point-maze benchmarks when "
            "they train (without --checkpoint; use --ensemble-checkpoint there)"
        )
    elif (
        args.command == "bench"
        and args.ensemble_checkpoint
        and (args.name not in LOOP_BENCHES or not args.checkpoint)
    ):
        raise JepalabError(
            "--ensemble-checkpoint applies to the two-rooms, reacher and point-maze "
            "benchmarks, beside --checkpoint"
        )
    elif args.command == "bench" and args.name == "intuitive-physics":
        from .eval import intuitive_physics

        cfg = _config(args, extra, intuitive_physics.bench_config())
        if args.run_dir:
            cfg.out_dir = args.run_dir
        f = intuitive_physics.run_bench(cfg, args.checkpoint, args.baseline_checkpoint)
        from .io import atomic_write_text

        atomic_write_text(Path(args.out), json.dumps(f, indent=2))
        print(
            f"pair_accuracy={f['pair_accuracy']:.3f} auroc={f['auroc']:.3f} "
            f"localization_rate={f['localization_rate']:.3f} "
            f"unseen_style_pair_accuracy={f['unseen_style_pair_accuracy']:.3f}"
        )
        print("by type: " + " ".join(f"{k}={v:.3f}" for k, v in f["pair_accuracy_by_type"].items()))
        if "baseline" in f:
            print(f"pixel baseline: pair_accuracy={f['baseline']['pair_accuracy']:.3f}")
    elif args.command == "bench" and args.name == "agent":
        from .eval import agent_bench
        from .io import atomic_write_text

        if args.baseline_checkpoint:
            raise JepalabError("--baseline-checkpoint applies to the intuitive-physics benchmark")
        cfg = _config(args, extra, bench_config())
        cfg.out_dir = args.run_dir or "runs/bench-agent"
        f = agent_bench.run_bench(cfg, args.checkpoint, args.hazard_checkpoint)
        atomic_write_text(Path(args.out), json.dumps(f, indent=2))
        c, m, a, h = f["critic"], f["mode1"], f["abstain"], f["hazard"]
        wo, flat = h["without_hazard_cost"], h["flat_planner"]["with_hazard_cost"]
        print(
            f"critic: short horizon {c['short_horizon']} + critic {c['short_horizon_success']:.3f}"
            f" vs full horizon {c['full_horizon']} {c['full_horizon_success']:.3f}, "
            f"{c['speedup']:.1f}x faster"
        )
        print(
            f"mode-1: agent {m['success']:.3f} (Mode-1 acts in {m['auto']['mode1_fraction']:.0%}"
            f" of decisions) vs Mode-2 {m['mode2_success']:.3f}; Mode-1 alone "
            f"{m['mode1_only_success']:.3f}; Mode-1 {m['latency_ratio']:.0f}x faster per decision"
            f"{' compiled' if m['compiled'] else ''} ({m['latency_ratio_uncompiled']:.0f}x "
            "uncompiled)"
        )
        shifts = " ".join(f"{k}={v['abstain_rate']:.2f}" for k, v in a["by_shift"].items())
        print(
            f"abstain: {a['ood_rate']:.3f} of episodes in unseen worlds ({shifts}), "
            f"{a['in_distribution_rate']:.3f} of ordinary ones"
        )
        print(
            f"hazard rooms: subgoals + hazard cost success {h['success']:.3f}, a hot cell "
            f"entered in {h['hazard_rate']:.3f} of episodes (goal cost only: "
            f"{wo['success']:.3f}, {wo['hazard_rate']:.3f}; flat planner + hazard cost: "
            f"{flat['success']:.3f}, {flat['hazard_rate']:.3f})"
        )
    elif args.command == "bench" and args.name == "hierarchy":
        from .eval import hierarchy_bench
        from .io import atomic_write_text

        if args.baseline_checkpoint:
            raise JepalabError("--baseline-checkpoint applies to the intuitive-physics benchmark")
        cfg = _config(args, extra, hierarchy_bench.bench_config())
        if args.run_dir:
            cfg.out_dir = str(Path(args.run_dir) / "maze")
        f = hierarchy_bench.run_bench(cfg, args.checkpoint, args.two_rooms_checkpoint)
        atomic_write_text(Path(args.out), json.dumps(f, indent=2))
        fl, hi, tr = f["flat"], f["hierarchical"], f["two_rooms"]
        print(
            f"maze, horizon {f['planning_budget']['horizon']}: hierarchical {hi['success']:.3f} "
            f"vs flat {fl['success']:.3f} over {hi['episodes']}; {hi['ms_per_step']:.1f} vs "
            f"{fl['ms_per_step']:.1f} ms per step ({f['time_ratio']:.2f}x); flat at horizon "
            f"{f['flat_full_horizon']['horizon']}: {f['flat_full_horizon']['success']:.3f}"
        )
        print(
            f"two-rooms: hierarchical {tr['hierarchical_success']:.3f} vs flat "
            f"{tr['flat_success']:.3f}"
        )
    elif args.command == "bench" and args.name == "ddp":
        from .eval import ddp_bench
        from .io import atomic_write_text

        if args.checkpoint or args.baseline_checkpoint:
            raise JepalabError("--checkpoint options do not apply to the ddp benchmark")
        cfg = _config(args, extra, ddp_bench.bench_config())
        if args.run_dir:
            cfg.out_dir = args.run_dir
        f = ddp_bench.run_bench(cfg)
        atomic_write_text(Path(args.out), json.dumps(f, indent=2))
        print(
            f"loss_single={f['loss_single']:.4g} loss_ddp={f['loss_ddp']:.4g} "
            f"relative_gap={f['relative_gap']:.3f} samples_per_second_per_process="
            f"{f['samples_per_second_per_process']:.1f}"
        )
    elif args.command == "bench":
        if args.baseline_checkpoint:
            raise JepalabError("--baseline-checkpoint applies to the intuitive-physics benchmark")
        cfg = _config(args, extra, LOOP_BENCHES[args.name]())
        if args.run_dir:
            cfg.out_dir = args.run_dir
        if args.checkpoint:
            s = pipeline.evaluate_trained(cfg, args.checkpoint, ensemble=args.ensemble_checkpoint)
        else:
            members = args.world_models
            if members is None:
                members = WORLD_MODELS.get(args.name, 1)
            s = pipeline.run_all(cfg, world_models=members)
        from .eval.evaluate import random_policy_success
        from .io import atomic_write_text

        s["random_policy_success"] = random_policy_success(cfg)
        atomic_write_text(Path(args.out), json.dumps({"benchmark": args.name, **s}, indent=2))
        print(
            f"success_rate={s['success_rate']:.3f} episodes={s['episodes']} "
            f"train_seconds={s['train_seconds'] or float('nan'):.1f} "
            f"replan_ms_median={s['replan_ms_median']:.1f} "
            f"random_policy_success={s['random_policy_success']:.3f}"
        )
    return 0


def surprise(args: argparse.Namespace) -> None:
    from .eval.surprise import surprise_report
    from .training.video_trainer import load_video_model

    model, meta = load_video_model(args.checkpoint)
    threshold = meta["threshold"] if args.threshold is None else args.threshold
    out = args.out or str(Path("runs/surprise") / Path(args.video).stem)
    r = surprise_report(args.video, model, threshold, meta["spatial"], out)
    print(f"{r.frames} frames; threshold {threshold:.4g}; {len(r.moments)} flagged moment(s)")
    for m in r.moments:
        span = (
            f"frame {m['first']}" if m["first"] == m["last"] else f"frames {m['first']}-{m['last']}"
        )
        print(f"  {span}: peak surprise {m['surprise']:.4g} at frame {m['peak']}")
    print(f"wrote {r.csv} and {r.plot}")


def main(argv: list[str] | None = None) -> None:
    try:
        code = run(sys.argv[1:] if argv is None else argv)
    except JepalabError as e:
        print(f"jepalab: error: {e}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print(
            "jepalab: interrupted; the last checkpoint is intact (resume with --resume)",
            file=sys.stderr,
        )
        code = 130
    sys.exit(code)
