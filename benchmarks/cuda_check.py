"""The CUDA training paths on a machine with a GPU: does the demo train and plan there, do
bf16 autocast and ``torch.compile`` train without graph breaks, do torchrun (NCCL) and
``--resume`` work on the GPU?

    python benchmarks/cuda_check.py --out cuda_check.json [--run-dir runs/cuda-check]
        [--stages demo,amp,torchrun,physics]

Runs, in ``--run-dir``: ``jepalab demo --train.device cuda`` (Two-Rooms: collect, train
4500 steps on the GPU, plan on the CPU); ``jepalab train`` on that dataset with
``--train.amp true --train.compile true`` and ``jepalab evaluate`` of its model;
``torchrun --nproc-per-node 1 -m jepalab train --train.device cuda`` for 300 steps, then
``--resume`` to 400; ``jepalab bench intuitive-physics --train.device cuda --video.baseline
false`` (the video JEPA trained on the GPU, scored on the CPU; its pixel twin left out to
keep the check short). ``--stages`` picks some of
``demo,amp,torchrun,physics`` (``amp`` and ``torchrun`` train on the demo's dataset). Writes
the figures as JSON after each stage. About 6 minutes on an H200 without ``physics``;
refuses to run without a GPU (CI never runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

STAGES = ("demo", "amp", "torchrun", "physics")
KEYS = (
    "train_seconds",
    "pair_accuracy",
    "auroc",
    "localization_rate",
    "unseen_style_pair_accuracy",
)


def run(cmd: list[str], log: Path) -> tuple[int, float, str]:
    """Run ``cmd``, appending its output to ``log``; (exit status, seconds, output)."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    out = done.stdout + done.stderr
    with open(log, "a") as f:
        f.write(f"=== {' '.join(cmd)}\n{out}\n")
    return done.returncode, time.perf_counter() - t0, out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="JSON file for the figures")
    p.add_argument("--run-dir", default="runs/cuda-check", help="run folders go here")
    p.add_argument("--stages", default=",".join(STAGES), help="comma-separated, of " + str(STAGES))
    a = p.parse_args()
    stages = a.stages.split(",")
    if not set(stages) <= set(STAGES) or (
        "demo" not in stages and {"amp", "torchrun"} & set(stages)
    ):
        print(f"cuda_check: --stages takes {STAGES}; amp and torchrun need demo", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("cuda_check: no CUDA device here; run it on a machine with a GPU", file=sys.stderr)
        return 2
    d = Path(a.run_dir)
    d.mkdir(parents=True, exist_ok=True)
    log = d / "log.txt"
    jl = [sys.executable, "-m", "jepalab"]
    cuda = ["--train.device", "cuda"]
    data = ["--data.path", str(d / "demo" / "data.h5")]
    fig: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}

    def done(name: str, figures: dict) -> None:  # written as each stage ends
        fig[name] = figures
        Path(a.out).write_text(json.dumps(fig, indent=2))

    if "demo" in stages:
        rc, secs, _ = run([*jl, "demo", "--out", str(d / "demo"), *cuda], log)
        demo = json.loads((d / "demo" / "metrics.json").read_text()) if rc == 0 else {}
        keys = ("success_rate", "episodes", "train_seconds", "train_steps", "collect_seconds")
        done("demo", {"rc": rc, "seconds": secs, **{k: demo.get(k) for k in keys}})

    if "amp" in stages:
        amp = ["--train.amp", "true", "--train.compile", "true"]
        rc, secs, out = run([*jl, "train", "--out", str(d / "amp"), *data, *cuda, *amp], log)
        summary = json.loads((d / "amp" / "metrics.json").read_text()) if rc == 0 else {}
        rc_eval, _, eval_out = run(
            [*jl, "evaluate", "--config", str(d / "amp" / "config.yaml"),
             "--checkpoint", str(d / "amp"), *data], log,
        )  # fmt: skip
        success = re.search(r"success_rate=([0-9.]+)", eval_out)
        done(
            "amp_compile",
            {
                "rc": rc,
                "seconds": secs,
                "train_seconds": summary.get("train_seconds"),
                "graph_breaks": out.count("Graph break"),
                "eval_rc": rc_eval,
                "success_rate": float(success.group(1)) if success else None,
            },
        )

    if "torchrun" in stages:
        tr = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "-m",
              "jepalab", "train", "--out", str(d / "torchrun"), *data, *cuda,
              "--train.ckpt_every", "100"]  # fmt: skip
        rc_a, _, _ = run([*tr, "--train.steps", "300"], log)
        rc_b, _, _ = run([*tr, "--train.steps", "400", "--resume"], log)
        steps = [json.loads(ln)["step"] for ln in (d / "torchrun" / "metrics.jsonl").open()]
        done("torchrun_nccl", {"rc": rc_a, "resume_rc": rc_b, "last_logged_step": max(steps)})

    if "physics" in stages:
        rc, secs, _ = run(
            [*jl, "bench", "intuitive-physics", "--run-dir", str(d / "physics"),
             "--out", str(d / "physics.json"), "--video.baseline", "false", *cuda], log,
        )  # fmt: skip
        ip = json.loads((d / "physics.json").read_text()) if rc == 0 else {}
        done("intuitive_physics", {"rc": rc, "seconds": secs, **{k: ip.get(k) for k in KEYS}})

    print(json.dumps(fig, indent=2))
    return 0 if all(v.get("rc") == 0 for v in fig.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
