"""Quick probe of VideoJEPA on the intuitive-physics pairs (work in progress, issue 4).

    python benchmarks/intuitive_physics_probe.py SECONDS

Trains on 3000 plausible 16-frame clips for SECONDS of wall clock (2 threads), then
scores 40 matched pairs per violation type (max-over-time surprise). Not the issue's
benchmark: `jepalab bench intuitive-physics` does not exist yet.
"""

import sys
import time

import numpy as np
import torch
from scipy.stats import mannwhitneyu

from jepalab.envs.physics import plausible_clips
from jepalab.envs.violations import make_pairs
from jepalab.world_model.objectives import VICReg
from jepalab.world_model.video_jepa import VideoJEPA


def main(seconds: float) -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    clips = torch.from_numpy(plausible_clips(3000, frames=16, seed=0))
    pairs = make_pairs(40, seed=123, frames=16)
    model, reg = VideoJEPA(context=4), VICReg(1.0, 0.04)
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=1e-4)
    start, steps = time.time(), 0
    while time.time() - start < seconds:
        s = model.encode(clips[torch.randint(len(clips), (16,))])
        pred_loss = (model.predict(s) - s[:, model.context :]).pow(2).mean()
        patches = s.permute(0, 1, 3, 4, 2).reshape(-1, s.shape[2])
        r, terms = reg.regularizer(patches[torch.randint(len(patches), (4096,))])
        loss = pred_loss + 0.1 * r
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
        if steps % 100 == 0:
            print(steps, round(time.time() - start), pred_loss.item(), terms, flush=True)
    model.eval()
    with torch.no_grad():
        e_pos = model.energy(torch.from_numpy(pairs.possible)).numpy()
        e_imp = model.energy(torch.from_numpy(pairs.impossible)).numpy()
    s_pos, s_imp = e_pos.max(1), e_imp.max(1)
    right = s_imp > s_pos
    for key in (pairs.kind, pairs.variant):
        for k in np.unique(key):
            print(k, right[key == k].mean())
    auroc = mannwhitneyu(s_imp, s_pos).statistic / (len(s_imp) * len(s_pos))
    loc = (np.abs(e_imp.argmax(1) - pairs.frame) <= 2).mean()
    print(f"pair_accuracy {right.mean():.3f} auroc {auroc:.3f} localization {loc:.3f}")


if __name__ == "__main__":
    main(float(sys.argv[1]))
