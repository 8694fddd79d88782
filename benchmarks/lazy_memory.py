"""Peak memory while training-style windows are read lazily from a large episode dataset.

Draws ``--batches`` random batches of ``--batch`` windows (``--window`` frames each) from
``DATASET`` with ``WindowDataset(in_memory=False)``, the path ``--data.in_memory false``
takes, and reports the process's peak resident memory next to the dataset's size
(uncompressed frames and the file on disk). A reader that held the dataset would peak
above the uncompressed size.

Usage::

    python benchmarks/lazy_memory.py runs/bench-two-rooms/data.h5 --out lazy_memory.json
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from jepalab.data import EpisodeDataset, WindowDataset
from jepalab.io import atomic_write_text

GIB = 1024**3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", help="a jepalab HDF5 episode dataset")
    p.add_argument("--out", required=True, help="JSON file for the figures")
    p.add_argument("--batches", type=int, default=200)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--window", type=int, default=8)
    args = p.parse_args()
    with EpisodeDataset(args.dataset) as ds:
        frames_bytes = ds.num_frames * int(np.prod(ds.obs_shape))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    windows = WindowDataset(args.dataset, args.window, in_memory=False)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(args.batches):
        batch = windows.batch(rng.integers(len(windows), size=args.batch).tolist())
        assert batch["obs"].shape[:2] == (args.batch, args.window)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    figures = {
        "dataset": str(args.dataset),
        "uncompressed_frames_gib": frames_bytes / GIB,
        "file_gib": Path(args.dataset).stat().st_size / GIB,
        "peak_rss_gib": peak / GIB,
        "peak_rss_before_reading_gib": before / GIB,
        "windows_per_second": args.batches * args.batch / seconds,
        "batches": args.batches,
        "batch": args.batch,
        "window": args.window,
    }
    print(json.dumps(figures, indent=2))
    atomic_write_text(Path(args.out), json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
