"""The CUDA training paths on a machine with a GPU: does the demo train and plan there, do
bf16 autocast and ``torch.compile`` train without graph breaks, do torchrun (NCCL) and
``--resume`` work on the GPU?

    python benchmarks/cuda_check.py --out cuda_check.json [--run-dir runs/cuda-check]

Runs, in ``--run-dir``: ``jepalab demo --train.device cuda`` (Two-Rooms: collect, train
4500 steps on the GPU, plan on the CPU); ``jepalab train`` on that dataset with
``--train.amp true --train.compile true`` and ``jepalab evaluate`` of its model;
``torchrun --nproc-per-node 1 -m jepalab train --train.device cuda`` for 300 steps, then
``--resume`` to 400. Writes the figures as JSON. About 6 minutes on an H200; refuses to run
without a GPU (CI never runs it).
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
    a = p.parse_args()
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

    rc, secs, _ = run([*jl, "demo", "--out", str(d / "demo"), *cuda], log)
    demo = json.loads((d / "demo" / "metrics.json").read_text()) if rc == 0 else {}
    keys = ("success_rate", "episodes", "train_seconds", "train_steps", "collect_seconds")
    fig["demo"] = {"rc": rc, "seconds": secs, **{k: demo.get(k) for k in keys}}

    amp = ["--train.amp", "true", "--train.compile", "true"]
    rc, secs, out = run([*jl, "train", "--out", str(d / "amp"), *data, *cuda, *amp], log)
    summary = json.loads((d / "amp" / "metrics.json").read_text()) if rc == 0 else {}
    rc_eval, _, eval_out = run(
        [*jl, "evaluate", "--config", str(d / "amp" / "config.yaml"),
         "--checkpoint", str(d / "amp"), *data], log,
    )  # fmt: skip
    success = re.search(r"success_rate=([0-9.]+)", eval_out)
    fig["amp_compile"] = {
        "rc": rc,
        "seconds": secs,
        "train_seconds": summary.get("train_seconds"),
        "graph_breaks": out.count("Graph break"),
        "eval_rc": rc_eval,
        "success_rate": float(success.group(1)) if success else None,
    }

    tr = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "-m",
          "jepalab", "train", "--out", str(d / "torchrun"), *data, *cuda,
          "--train.ckpt_every", "100"]  # fmt: skip
    rc_a, _, _ = run([*tr, "--train.steps", "300"], log)
    rc_b, _, _ = run([*tr, "--train.steps", "400", "--resume"], log)
    steps = [json.loads(ln)["step"] for ln in (d / "torchrun" / "metrics.jsonl").open()]
    fig["torchrun_nccl"] = {"rc": rc_a, "resume_rc": rc_b, "last_logged_step": max(steps)}

    Path(a.out).write_text(json.dumps(fig, indent=2))
    print(json.dumps(fig, indent=2))
    return 0 if all(v.get("rc") == 0 for v in fig.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
