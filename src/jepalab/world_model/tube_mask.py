"""Tube masks: V-JEPA's spatio-temporal masking, aimed at what moves.

In training, a share of clips hide a rectangle of the predictor's *input* over a few
consecutive frames (a tube) while the targets stay whole, so the predictor must say where
a body it cannot see has gone: the skill a body passing behind a screen asks for. The
rectangle is centred on a pixel that changed at the tube's first frame (a moving body),
since a rectangle over still background teaches nothing a copy would not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import JepalabError

SIDE_PX = (6, 14)  # rectangle sides, pixels: about 1-4 body diameters
FRAMES = (2, 5)  # tube length, frames (inclusive)


def tube_masks(
    clips: torch.Tensor, share: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """uint8 clips ``(B, T, H, W, C)`` -> bool masks ``(B, T, H, W)``, True where hidden.

    Each clip is masked with probability ``share``: one tube within frames ``1..T-2``
    (frame 0 starts the memory; frame ``T-1`` is only ever a target)."""
    if not 0.0 <= share <= 1.0:
        raise JepalabError(f"mask share must be in [0, 1], got {share}")
    b, t, h, w = clips.shape[:4]
    masks = torch.zeros(b, t, h, w, dtype=torch.bool, device=clips.device)
    if t < 3 or share == 0.0:
        return masks
    rand = dict(generator=generator, device="cpu")
    for i in torch.nonzero(torch.rand(b, **rand) < share).flatten().tolist():
        first = int(torch.randint(1, t - 1, (1,), **rand))
        length = int(torch.randint(FRAMES[0], FRAMES[1] + 1, (1,), **rand))
        # A pixel that changed into frame `first`, drawn by how much; any pixel if none did.
        change = (clips[i, first].float() - clips[i, first - 1].float()).abs().sum(-1)
        weights = change.flatten().cpu() + 1e-6
        centre = int(torch.multinomial(weights, 1, generator=generator))
        cy, cx = divmod(centre, w)
        sh, sw = torch.randint(SIDE_PX[0], SIDE_PX[1] + 1, (2,), **rand).tolist()
        y0, x0 = max(0, cy - sh // 2), max(0, cx - sw // 2)
        masks[i, first : min(first + length, t - 1), y0 : y0 + sh, x0 : x0 + sw] = True
    return masks


def at_map_resolution(masks: torch.Tensor, map_hw: tuple[int, int]) -> torch.Tensor:
    """Pixel masks ``(B, T, H, W)`` -> masks ``(B, T, h, w)`` of the embedding maps: a map
    position is hidden if any of its pixels is."""
    if masks.shape[-2:] == map_hw:
        return masks
    pooled = F.adaptive_max_pool2d(masks.flatten(0, 1)[:, None].float(), map_hw)
    return pooled[:, 0].unflatten(0, masks.shape[:2]).bool()
