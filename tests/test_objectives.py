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


def test_pixel_neighbours_is_zero_where_embedding_distances_order_as_the_pictures_and_scale_free():
    """KL(P || Q) is 0 when the embedding is the blurred pictures themselves (at any scale,
    since both temperatures are each anchor's k-th neighbour distance), and the loss of any
    embedding is unchanged by scaling it."""
    from jepalab.world_model import PixelNeighbours

    torch.manual_seed(0)
    term = PixelNeighbours((16, 16, 6), frames=2, neighbours=3, queue=0)
    obs = torch.randint(0, 255, (3, 4, 16, 16, 6), dtype=torch.uint8)
    pictures = term.pictures(obs)
    assert pictures.shape == (3, 4, 3 * 8 * 8)
    assert term(5.0 * pictures, pictures).item() < 1e-6
    z = torch.randn(3, 4, 5)
    assert term(z, pictures).item() > 0.01
    assert term(7.0 * z, pictures).item() == pytest.approx(term(z, pictures).item(), rel=1e-5)


def test_pixel_neighbours_pulls_look_alikes_together_and_pushes_look_different_apart():
    """Two frames that look the same but sit far apart in embedding, and a frame that looks
    different lying on top of one of them: descent on the loss swaps that order."""
    from jepalab.world_model import PixelNeighbours

    torch.manual_seed(0)
    term = PixelNeighbours((8, 8, 3), neighbours=2, blur=1.0, queue=0)
    pics = torch.zeros(3, 2, 8, 8, 3, dtype=torch.uint8)
    pics[0, :, 2, 2] = pics[1, :, 2, 3] = 255  # windows 0 and 1 nearly alike
    pics[2, :, 6, 6] = 255  # window 2 elsewhere
    pictures = term.pictures(pics)
    z = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.2, 0.0]])[:, None].repeat(1, 2, 1)
    z = (z + 0.01 * torch.randn(3, 2, 2)).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.05)  # the first gradients are steep: 25 is 600 tau_e
    for _ in range(200):
        opt.zero_grad()
        term(z, pictures).backward()
        opt.step()
    alike, different = (z[0] - z[1]).norm(dim=-1).mean(), (z[0] - z[2]).norm(dim=-1).mean()
    assert alike < different  # they started the other way round: 5 against 0.2


def test_pixel_neighbours_queue_keeps_every_other_frame_up_to_its_size():
    from jepalab.world_model import PixelNeighbours

    term = PixelNeighbours((8, 8, 3), neighbours=2, queue=10)
    obs = torch.randint(0, 255, (2, 4, 8, 8, 3), dtype=torch.uint8)
    z = torch.randn(2, 4, 3)
    term(z, term.pictures(obs))
    assert len(term.queue_z) == len(term.queue_p) == 4
    term(z, term.pictures(obs))
    term(z, term.pictures(obs))
    assert len(term.queue_z) == 10 and term.queue_p.shape == (10, 3 * 4 * 4)
