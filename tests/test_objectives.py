"""Anti-collapse objectives behave as theory says."""

import math

import pytest
import torch

from jepalab.world_model import collapse_stats
from jepalab.world_model.objectives import (
    EMATarget,
    covariance_term,
    epps_pulley,
    sigreg,
    variance_term,
)


def test_sigreg_small_for_gaussian_large_for_collapsed():
    g = torch.Generator().manual_seed(0)
    gaussian = torch.randn(2048, 16, generator=g)
    collapsed = torch.zeros(2048, 16) + 0.01 * torch.randn(2048, 1, generator=g)
    low = float(sigreg(gaussian, 64, torch.Generator().manual_seed(1)))
    high = float(sigreg(collapsed, 64, torch.Generator().manual_seed(1)))
    # N * |ecf - cf|^2 is O(1) for Gaussian samples whatever N; it grows with N under collapse.
    assert low < 2.0
    assert high > 200 * low


def test_epps_pulley_detects_non_gaussian_shape_and_scale():
    g = torch.Generator().manual_seed(0)
    n = 4096
    normal = torch.randn(n, 1, generator=g)
    uniform = (torch.rand(n, 1, generator=g) - 0.5) * 2 * 3**0.5  # unit variance, not Gaussian
    wide = 3 * torch.randn(n, 1, generator=g)
    ep = [float(epps_pulley(x)[0]) for x in (normal, uniform, wide)]
    assert ep[0] < ep[1] and ep[0] < ep[2]
    assert ep[0] < 5.0 < 10 * ep[0] < ep[2]


def test_vicreg_terms_match_definitions():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(256, 8, generator=g) * torch.linspace(0.1, 2.0, 8)
    std = torch.sqrt(z.var(0) + 1e-4)
    expected_var = torch.relu(1 - std).mean()
    zc = z - z.mean(0)
    cov = zc.T @ zc / (z.shape[0] - 1)
    expected_cov = (cov.pow(2).sum() - cov.diagonal().pow(2).sum()) / z.shape[1]
    assert torch.allclose(variance_term(z), expected_var, atol=1e-6)
    assert torch.allclose(covariance_term(z), expected_cov, atol=1e-5)


def test_vicreg_zero_for_whitened_embeddings():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4096, 8, generator=g)
    q, _ = torch.linalg.qr(z - z.mean(0))
    white = q * (4095**0.5)  # exactly uncorrelated, unit variance columns
    assert float(variance_term(white, eps=0.0)) < 1e-6
    assert float(covariance_term(white)) < 1e-8


def test_collapse_monitor():
    g = torch.Generator().manual_seed(0)
    healthy = collapse_stats(torch.randn(512, 16, generator=g))
    collapsed = collapse_stats(torch.randn(512, 1, generator=g).repeat(1, 16))
    assert healthy["eff_rank"] > 14 and collapsed["eff_rank"] < 1.5
    assert healthy["std_min"] > 0.8


def test_ema_target_moves_towards_online_encoder():
    online = torch.nn.Linear(4, 3)
    ema = EMATarget(online, momentum=0.9)
    with torch.no_grad():
        online.weight.add_(1.0)
    before = (ema.target_encoder.weight - online.weight).abs().sum()
    ema.after_step(_Wrap(online))
    after = (ema.target_encoder.weight - online.weight).abs().sum()
    assert torch.allclose(after, 0.9 * before, rtol=1e-5)
    assert not ema.target_encoder.weight.requires_grad


class _Wrap(torch.nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder


def test_linear_inverse_dynamics_reads_the_embedding_change():
    from jepalab.world_model import InverseDynamics

    idm = InverseDynamics(embed_dim=4, action_dim=2)
    z = torch.randn(5, 4)
    assert torch.allclose(idm(z, z), idm.net.bias.expand(5, 2))  # no change, no action
    assert torch.allclose(idm(z, z + 1) - idm(z, z), idm(z * 0, z * 0 + 1) - idm.net.bias)


def test_keypoint_encoder_outputs_coordinates():
    from jepalab.perception import KeypointEncoder

    enc = KeypointEncoder((65, 65, 3), embed_dim=8, channels=(4, 4, 6))
    obs = torch.randint(0, 255, (3, 65, 65, 3), dtype=torch.uint8)
    kp = enc.keypoints(obs)
    assert kp.shape == (3, 6, 2) and kp.abs().max() <= 1.0
    assert enc(obs).shape == (3, 8)


def test_time_contrast_is_zero_for_separate_windows_and_chance_for_collapse():
    """InfoNCE over the next frame: ~0 when each window sits still far from the others,
    log(candidates) when every embedding is the same (the queue adds candidates)."""
    from jepalab.world_model import TimeContrast

    b, t, d = 4, 5, 3
    apart = (10.0 * torch.arange(b, dtype=torch.float32))[:, None, None].expand(b, t, d)
    assert TimeContrast(d, queue=0)(apart).item() < 1e-6
    tc = TimeContrast(d, queue=100)
    same = torch.zeros(b, t, d)
    candidates = 1 + (b - 1) * (t - 1)  # the successor and the other windows' successors
    assert tc(same).item() == pytest.approx(math.log(candidates), rel=1e-5)
    queued = len(tc.queue)
    assert queued == (b * t + 3) // 4  # every 4th frame
    assert tc(same).item() == pytest.approx(math.log(candidates + queued), rel=1e-5)


def test_time_contrast_pushes_look_alikes_apart():
    """Two windows that start at the same embedding: gradient descent on the loss moves
    their frames apart."""
    from jepalab.world_model import TimeContrast

    z = torch.randn(2, 4, 2) * 0.1
    z[1, 0] = z[0, 0]
    z.requires_grad_(True)
    tc, opt = TimeContrast(2, queue=0), torch.optim.SGD([z], lr=0.1)
    before = (z[0] - z[1]).norm(dim=-1).mean().item()
    for _ in range(50):
        opt.zero_grad()
        tc(z).backward()
        opt.step()
    assert (z[0] - z[1]).norm(dim=-1).mean().item() > 3 * before
