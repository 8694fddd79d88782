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

torch.set_num_threads(2)
from jepalab.envs.physics import plausible_clips
from jepalab.envs.violations import make_pairs
from jepalab.world_model.objectives import VICReg
from jepalab.world_model.video_jepa import VideoJEPA

secs = float(sys.argv[1])
t0 = time.time()
clips = torch.from_numpy(plausible_clips(3000, frames=16, seed=0))
print("data", time.time() - t0, flush=True)
pairs = make_pairs(40, seed=123, frames=16)
torch.manual_seed(0)
m = VideoJEPA(context=4)
reg = VICReg(1.0, 0.04)
opt = torch.optim.AdamW(m.parameters(), 1e-3, weight_decay=1e-4)
t0 = time.time()
it = 0
while time.time() - t0 < secs:
    idx = torch.randint(len(clips), (16,))
    s = m.encode(clips[idx])
    pred = m.predict(s)
    pl = (pred - s[:, 4:]).pow(2).mean()
    v = s.permute(0, 1, 3, 4, 2).reshape(-1, s.shape[2])
    v = v[torch.randint(len(v), (4096,))]
    r, terms = reg.regularizer(v)
    loss = pl + 0.1 * r
    opt.zero_grad()
    loss.backward()
    opt.step()
    it += 1
    if it % 100 == 0:
        print(it, round(time.time() - t0), pl.item(), terms, flush=True)
m.eval()
with torch.no_grad():
    ep = m.energy(torch.from_numpy(pairs.possible)).numpy()
    ei = m.energy(torch.from_numpy(pairs.impossible)).numpy()
sp, si = ep.max(1), ei.max(1)
acc = (si > sp).mean()
for k in np.unique(pairs.kind):
    print(k, (si > sp)[pairs.kind == k].mean())
for k in np.unique(pairs.variant):
    print("  ", k, (si > sp)[pairs.variant == k].mean())
from scipy.stats import mannwhitneyu

au = mannwhitneyu(si, sp).statistic / (len(si) * len(sp))
loc = (np.abs(ei.argmax(1) - pairs.frame) <= 2).mean()
print("pair acc", acc, "auroc", au, "loc", loc, "iters", it)
