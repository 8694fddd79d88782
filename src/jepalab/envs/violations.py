"""Matched pairs of clips: the same scene continuing possibly or impossibly.

Each pair is one random scene simulated twice, once as physics says and once with one
object breaking a rule from frame ``t_break`` on. Five violation types, as in IntPhys and
the V-JEPA intuitive-physics probes, each with its variants:

=============  =================================================================
permanence     ``vanish`` in plain view; ``vanish_occluded`` behind the screen (it is
               not there when it should come out); ``appear`` from nowhere
continuity     ``teleport``; ``velocity_jump`` without any contact
solidity       ``pass_through`` the floor, a wall, the pillar or another object
constancy      ``shape``, ``size`` or ``colour`` change
gravity        ``hover`` unsupported in mid-air; ``fall_up``
=============  =================================================================

The *violation frame* of a pair is the first frame at which the two clips visibly differ
(for ``vanish_occluded`` that is when the object should have come out, not when it
vanished): the moment a viewer could notice, where a surprise peak should fall.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import JepalabError
from .physics import (
    TRAIN_STYLE,
    Body,
    Scene,
    Style,
    random_scene,
    simulate,
    state_at,
    visible_fraction,
)

VIOLATIONS: dict[str, tuple[str, ...]] = {
    "permanence": ("vanish", "vanish_occluded", "appear"),
    "continuity": ("teleport", "velocity_jump"),
    "solidity": ("pass_through",),
    "constancy": ("shape", "size", "colour"),
    "gravity": ("hover", "fall_up"),
}
DIFF_LEVEL = 25  # uint8 difference at which a change counts as visible


@dataclass
class Pairs:
    """``possible``/``impossible`` ``(N, T, H, W, 3)`` uint8; per pair its violation frame,
    type and variant."""

    possible: np.ndarray
    impossible: np.ndarray
    frame: np.ndarray
    kind: np.ndarray
    variant: np.ndarray


Event = Callable[[Scene], None]


def _on(j: int, fn: Callable[[Body], None]) -> Event:
    return lambda scene: fn(scene.bodies[j])


def _break(
    variant: str, scene: Scene, rng: np.random.Generator, t_range: tuple[int, int]
) -> tuple[Scene, Scene, dict[int, Event]] | None:
    """(possible scene, impossible scene, events of the impossible clip), or None to retry."""
    j = int(rng.integers(len(scene.bodies)))
    t = int(rng.integers(*t_range))
    b = state_at(scene, t).bodies[j]
    if variant == "vanish":
        return scene, scene, {t: _on(j, lambda b: setattr(b, "alive", False))}
    if variant == "vanish_occluded":
        # Hang the screen where the object will be at frame t, big enough to hide it.
        scene = copy.deepcopy(scene)
        w, h = 2 * b.r + rng.uniform(2, 4), 2 * b.r + rng.uniform(2, 4)
        scene.screen = (b.x - w / 2, b.y - h / 2, b.x + w / 2, b.y + h / 2)
        if visible_fraction(scene, b) > 0.0:
            return None
        return scene, scene, {t: _on(j, lambda b: setattr(b, "alive", False))}
    if variant == "appear":
        hidden = copy.deepcopy(scene)
        hidden.bodies[j].alive = False
        return hidden, hidden, {t: _on(j, lambda b: setattr(b, "alive", True))}
    if variant == "teleport":
        ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(6, 10)
        dx, dy = dist * np.cos(ang), dist * np.sin(ang)
        nx, ny = b.x + dx, b.y + dy
        if not (b.r + 1 < nx < scene.size - b.r - 1 and b.r + 1 < ny < scene.size - 4 - b.r):
            return None
        if scene.pillar is not None:
            x0, y0, x1, _ = scene.pillar
            if x0 - b.r - 1 < nx < x1 + b.r + 1 and ny > y0 - b.r - 1:
                return None

        def jump(b: Body) -> None:
            b.x += dx
            b.y += dy

        return scene, scene, {t: _on(j, jump)}
    if variant == "velocity_jump":
        ang = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(1.2, 2.0)

        def kick(b: Body) -> None:
            b.vx, b.vy = speed * np.cos(ang), speed * np.sin(ang)

        if np.hypot(speed * np.cos(ang) - b.vx, speed * np.sin(ang) - b.vy) < 1.2:
            return None
        return scene, scene, {t: _on(j, kick)}
    if variant == "pass_through":
        return scene, scene, {t: _on(j, lambda b: setattr(b, "solid", False))}
    if variant == "shape":
        new = "square" if b.shape == "circle" else "circle"
        return scene, scene, {t: _on(j, lambda b: setattr(b, "shape", new))}
    if variant == "size":
        factor = float(rng.choice([0.55, 1.6]))
        return scene, scene, {t: _on(j, lambda b: setattr(b, "r", max(1.2, b.r * factor)))}
    if variant == "colour":
        shift = rng.uniform(0.25, 0.75)
        return scene, scene, {t: _on(j, lambda b: setattr(b, "hue", b.hue + shift))}
    if variant == "hover":
        floor_top = scene.size - scene.floor
        if b.y + b.r > floor_top - 3 or np.hypot(b.vx, b.vy) < 0.5:
            return None  # must be unsupported (and moving, so that stopping shows)
        return scene, scene, {t: _on(j, lambda b: setattr(b, "frozen", True))}
    if variant == "fall_up":
        return scene, scene, {t: _on(j, lambda b: setattr(b, "gravity", -1.0))}
    raise JepalabError(f"unknown violation variant {variant!r}")


def first_difference(a: np.ndarray, b: np.ndarray) -> int | None:
    """First frame index where two clips ``(T, H, W, C)`` differ visibly, or None."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).reshape(len(a), -1).max(1)
    idx = np.flatnonzero(diff >= DIFF_LEVEL)
    return int(idx[0]) if len(idx) else None


def make_pair(
    variant: str,
    rng: np.random.Generator,
    style: Style = TRAIN_STYLE,
    frames: int = 20,
    size: int = 32,
    first_frame: int = 6,
) -> tuple[np.ndarray, np.ndarray, int]:
    """One matched pair (possible, impossible, violation frame) of a rule-break variant.

    The violation frame lies in ``[first_frame, frames - 3]`` so that there is context
    before it and something to see after it.
    """
    for _ in range(1000):
        scene = random_scene(rng, style, size)
        if not scene.bodies:
            continue
        made = _break(variant, scene, rng, (first_frame, frames - 4))
        if made is None:
            continue
        possible_scene, impossible_scene, events = made
        possible = simulate(possible_scene, frames)
        impossible = simulate(impossible_scene, frames, events)
        t = first_difference(possible, impossible)
        if t is not None and first_frame <= t <= frames - 3:
            return possible, impossible, t
    raise JepalabError(f"could not build a {variant!r} pair in 1000 tries")


def make_pairs(
    per_type: int,
    seed: int = 0,
    style: Style = TRAIN_STYLE,
    frames: int = 20,
    size: int = 32,
    types: tuple[str, ...] | None = None,
) -> Pairs:
    """``per_type`` pairs of every violation type, variants in turn."""
    types = types or tuple(VIOLATIONS)
    unknown = set(types) - set(VIOLATIONS)
    if unknown:
        raise JepalabError(f"unknown violation types {sorted(unknown)}; known: {list(VIOLATIONS)}")
    rng = np.random.default_rng(seed)
    rows = []
    for kind in types:
        variants = VIOLATIONS[kind]
        for i in range(per_type):
            v = variants[i % len(variants)]
            rows.append((*make_pair(v, rng, style, frames, size), kind, v))
    pos, imp, t, kind, var = zip(*rows, strict=True)
    return Pairs(np.stack(pos), np.stack(imp), np.array(t), np.array(kind), np.array(var))
