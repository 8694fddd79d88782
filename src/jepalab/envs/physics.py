"""A procedural world of objects under gravity, rendered as short video clips.

A box with a floor and side walls, sometimes a pillar rising from the floor (solid) and a
screen hanging in the air (an occluder: drawn over everything, no physics). One to three
discs or squares fly under gravity, bounce elastically off the floor, the walls, the
pillar and each other, each with its own outline (a disc as a disc, a square as an
axis-aligned square). Everything is simulated in pixel units with a few sub-steps per
frame and rendered anti-aliased, so sub-pixel motion is visible.

Each object may carry a *rule break* (see :mod:`.violations`): from some frame on it
vanishes, teleports, ignores solids, changes look, or stops obeying gravity. The same
scene simulated with and without the break gives a matched pair of clips that are
identical up to a moment and then continue possibly or impossibly.

:func:`record` also says what happened in each frame (the collisions, with the change of
velocity each caused, and bodies coming out from behind the screen): where a plausible
clip's surprise should come from. A share of training clips can be drawn to show two bodies
hitting each other (``plausible_clips(collide=...)``), the hardest event to predict.

Styles (:class:`Style`) set the ranges of sizes and colours, so a test can render objects
never seen in training.
"""

from __future__ import annotations

import colorsys
import copy
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from ..errors import JepalabError

WALL = np.array([0.45, 0.45, 0.45])
SCREEN = np.array([0.55, 0.42, 0.30])
Box = tuple[float, float, float, float]  # x0, y0, x1, y1
# A square's half-side, in units of its radius: the square with the disc's area
# (sqrt(pi) / 2), so that a body's mass (its area) does not depend on its shape.
SQUARE_HALF = 0.886
BOUNCE = 0.4  # px per frame: a change of velocity this large is a bounce, not resting


@dataclass(frozen=True)
class Style:
    """Ranges of object looks. Hues are drawn from ``hue_bins`` (each bin ``[lo, hi)``)."""

    radius: tuple[float, float] = (1.5, 3.0)
    hue_bins: tuple[tuple[float, float], ...] = tuple((k / 6, k / 6 + 1 / 12) for k in range(6))
    shapes: tuple[str, ...] = ("circle", "square")

    def sample_hue(self, rng: np.random.Generator) -> float:
        lo, hi = self.hue_bins[rng.integers(len(self.hue_bins))]
        return float(rng.uniform(lo, hi))


TRAIN_STYLE = Style()
# Larger objects, and hues from the gaps between the training bins: never seen in training.
UNSEEN_STYLE = Style(
    radius=(3.25, 4.25), hue_bins=tuple((k / 6 + 1 / 12, k / 6 + 1 / 6) for k in range(6))
)


def hue_to_rgb(hue: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, 0.9, 1.0))


@dataclass
class Body:
    """One object. Position and velocity in pixels (per frame); ``y`` grows downwards."""

    x: float
    y: float
    vx: float
    vy: float
    r: float
    hue: float
    shape: str = "circle"
    alive: bool = True
    solid: bool = True  # collides with walls, pillar and other bodies
    gravity: float = 1.0  # multiplies the world's gravity (-1: falls upward)
    frozen: bool = False  # hovers where it is


@dataclass
class Scene:
    """A box of ``size x size`` pixels with a floor, optional pillar and screen, bodies."""

    size: int = 32
    gravity: float = 0.2
    floor: int = 2  # floor thickness (rows at the bottom)
    wall: int = 1  # side wall thickness
    pillar: Box | None = None
    screen: Box | None = None
    bodies: list[Body] = field(default_factory=list)

    def solids(self) -> list[Box]:
        s = self.size
        rects = [
            (0.0, s - self.floor, s, s + 10.0),
            (-10.0, -20.0, self.wall, s),
            (s - self.wall, -20.0, s + 10.0, s),
        ]
        return rects + ([self.pillar] if self.pillar is not None else [])


@dataclass(frozen=True)
class Contact:
    """A collision that changed a velocity: where (the body's centre, or midway between
    two bodies' centres; px), the change (px per frame), and what was hit: ``"body"`` or
    ``"solid"`` (the floor, a wall, the pillar)."""

    x: float
    y: float
    kick: float
    hit: Literal["body", "solid"]


# ---------------------------------------------------------------------------- physics
def body_box(b: Body) -> Box:
    """The square a square body fills (its axis-aligned outline)."""
    h = b.r * SQUARE_HALF
    return (b.x - h, b.y - h, b.x + h, b.y + h)


def _contact(b: Body, other: Body | Box) -> tuple[float, float, float] | None:
    """Where body ``b`` overlaps ``other`` (a body, or a solid box): the unit normal
    ``(nx, ny)`` pointing from ``other`` towards ``b``, and the depth to push ``b`` out
    along it; None when they do not touch. Discs are discs and squares are squares: a
    square touches the floor with its side, and two squares meet face to face."""
    if isinstance(other, Body) and other.shape == "circle" and b.shape != "circle":
        flipped = _contact(other, b)  # a square against a disc: the disc's view, reversed
        return None if flipped is None else (-flipped[0], -flipped[1], flipped[2])
    if isinstance(other, Body) and other.shape == "circle":  # a disc against a disc
        dx, dy = b.x - other.x, b.y - other.y
        d = (dx * dx + dy * dy) ** 0.5
        if d >= b.r + other.r or d < 1e-9:
            return None
        return dx / d, dy / d, b.r + other.r - d
    x0, y0, x1, y1 = body_box(other) if isinstance(other, Body) else other
    if b.shape == "circle":  # a disc against a box: its nearest point
        cx, cy = min(max(b.x, x0), x1), min(max(b.y, y0), y1)
        dx, dy = b.x - cx, b.y - cy
        d2 = dx * dx + dy * dy
        if d2 >= b.r * b.r:
            return None
        if d2 >= 1e-12:
            d = d2**0.5
            return dx / d, dy / d, b.r - d
        # The centre is inside the box: leave through the nearest side.
        depth, nx, ny = min(
            (b.x - x0, -1.0, 0.0), (x1 - b.x, 1.0, 0.0), (b.y - y0, 0.0, -1.0), (y1 - b.y, 0.0, 1.0)
        )
        return nx, ny, depth + b.r
    # A square against a box: leave along the axis of least overlap.
    bx0, by0, bx1, by1 = body_box(b)
    ox, oy = min(bx1, x1) - max(bx0, x0), min(by1, y1) - max(by0, y0)
    if ox <= 0 or oy <= 0:
        return None
    if ox < oy:
        return (1.0 if b.x > (x0 + x1) / 2 else -1.0), 0.0, ox
    return 0.0, (1.0 if b.y > (y0 + y1) / 2 else -1.0), oy


def _reflected(depth: float, closing: float, dt: float) -> float:
    """How far to move out of an overlap of ``depth`` px when closing at ``closing`` px per
    frame: all of it, and as much again of what this sub-step of ``dt`` frames put in (the
    position mirrored, as the velocity is); any deeper start is only undone."""
    return depth + (min(depth, closing * dt) if closing > 0 else 0.0)


def _collide_rect(b: Body, rect: Box, dt: float) -> float:
    """A body against a fixed solid rectangle: reflect its velocity and its position
    (:func:`_reflected`: it ends as far out as it went in, so a bounce keeps its energy).
    Returns the change of its velocity (px per frame; 0 when they do not touch or it was
    already leaving: then it is only pushed out)."""
    c = _contact(b, rect)
    if c is None:
        return 0.0
    nx, ny, depth = c
    vn = b.vx * nx + b.vy * ny
    out = _reflected(depth, -vn, dt)
    b.x += nx * out
    b.y += ny * out
    if vn >= 0:
        return 0.0
    b.vx -= 2 * vn * nx
    b.vy -= 2 * vn * ny
    return -2 * vn


def _collide_bodies(a: Body, b: Body, dt: float) -> float:
    """Elastic collision of two bodies with masses proportional to area, their positions
    reflected (:func:`_reflected`, each moved by its share). Returns the larger change of
    their velocities (px per frame; 0 when nothing was exchanged)."""
    c = _contact(b, a)
    if c is None:
        return 0.0
    nx, ny, overlap = c  # from a towards b
    ma, mb = a.r**2, b.r**2
    rel = (a.vx - b.vx) * nx + (a.vy - b.vy) * ny  # closing speed along the normal
    apart = _reflected(overlap, rel, dt)
    a.x -= nx * apart * mb / (ma + mb)
    a.y -= ny * apart * mb / (ma + mb)
    b.x += nx * apart * ma / (ma + mb)
    b.y += ny * apart * ma / (ma + mb)
    if rel <= 0:  # already separating
        return 0.0
    j = 2 * rel / (ma + mb)
    a.vx -= j * mb * nx
    a.vy -= j * mb * ny
    b.vx += j * ma * nx
    b.vy += j * ma * ny
    return j * max(ma, mb)


def step(scene: Scene, substeps: int = 4) -> list[Contact]:
    """Advance the scene by one frame (in place); returns the collisions on the way."""
    dt = 1.0 / substeps
    live = [b for b in scene.bodies if b.alive and not b.frozen]
    contacts = []
    for _ in range(substeps):
        for b in live:
            b.vy += scene.gravity * b.gravity * dt
            b.x += b.vx * dt
            b.y += b.vy * dt
        for i, a in enumerate(live):
            for b in live[i + 1 :]:
                if a.solid and b.solid and (kick := _collide_bodies(a, b, dt)) > 0:
                    contacts.append(Contact((a.x + b.x) / 2, (a.y + b.y) / 2, kick, "body"))
        for b in live:
            if b.solid:
                for rect in scene.solids():
                    if (kick := _collide_rect(b, rect, dt)) > 0:
                        contacts.append(Contact(b.x, b.y, kick, "solid"))
    return contacts


# ---------------------------------------------------------------------------- rendering
_GRID = {}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    if size not in _GRID:
        c = np.arange(size) + 0.5  # pixel centres
        _GRID[size] = np.meshgrid(c, c, indexing="xy")
    return _GRID[size]


def _rect_cover(rect, size: int) -> np.ndarray:
    xs, ys = _grid(size)
    x0, y0, x1, y1 = rect
    cx = np.clip(np.minimum(xs + 0.5, x1) - np.maximum(xs - 0.5, x0), 0, 1)
    cy = np.clip(np.minimum(ys + 0.5, y1) - np.maximum(ys - 0.5, y0), 0, 1)
    return cx * cy


def body_cover(b: Body, size: int) -> np.ndarray:
    """Anti-aliased coverage of a body, ``(size, size)`` in [0, 1]."""
    xs, ys = _grid(size)
    if b.shape == "circle":
        d = np.hypot(xs - b.x, ys - b.y)
        return np.clip(b.r + 0.5 - d, 0.0, 1.0)
    return _rect_cover(body_box(b), size)


def visible_fraction(scene: Scene, b: Body) -> float:
    """How much of a body is not hidden by the screen (1 when there is no screen)."""
    cover = body_cover(b, scene.size)
    total = cover.sum()
    if total <= 0:
        return 0.0
    if scene.screen is None:
        return 1.0
    return float((cover * (1 - _rect_cover(scene.screen, scene.size))).sum() / total)


def render(scene: Scene) -> np.ndarray:
    """The current frame, ``(size, size, 3)`` uint8."""
    s = scene.size
    img = np.zeros((s, s, 3))
    for rect in scene.solids():
        a = _rect_cover(rect, s)[..., None]
        img = img * (1 - a) + WALL * a
    for b in scene.bodies:
        if b.alive:
            a = body_cover(b, s)[..., None]
            img = img * (1 - a) + hue_to_rgb(b.hue) * a
    if scene.screen is not None:
        a = _rect_cover(scene.screen, s)[..., None]
        img = img * (1 - a) + SCREEN * a
    return (img * 255 + 0.5).astype(np.uint8)


@dataclass
class Recording:
    """A simulated clip and what happened in it: per frame, the collisions of the step
    into it (:class:`Contact`) and the centres ``(x, y)`` of bodies coming out from behind
    the screen (over 5% more of the body shows than in the frame before)."""

    frames: np.ndarray  # (T, size, size, 3) uint8
    contacts: list[list[Contact]]
    emerging: list[list[tuple[float, float]]]


def record(scene: Scene, frames: int, events: dict | None = None) -> Recording:
    """Render ``frames`` frames, stepping between them, and record what happened.

    ``events`` maps a frame index to a function ``f(scene)`` applied just before that
    frame is rendered (how rule breaks are injected). The scene is copied, not changed.
    """
    scene = copy.deepcopy(scene)
    events = events or {}
    out = np.empty((frames, scene.size, scene.size, 3), np.uint8)
    contacts: list[list[Contact]] = []
    emerging: list[list[tuple[float, float]]] = []
    shown: list[float | None] = []  # each body's visible share in the last frame
    for t in range(frames):
        contacts.append(step(scene) if t > 0 else [])
        if t in events:
            events[t](scene)
        out[t] = render(scene)
        came = []
        if scene.screen is not None:
            now = [visible_fraction(scene, b) if b.alive else None for b in scene.bodies]
            for b, was, is_ in zip(scene.bodies, shown or now, now, strict=True):
                if was is not None and is_ is not None and is_ > was + 0.05:
                    came.append((b.x, b.y))
            shown = now
        emerging.append(came)
    return Recording(out, contacts, emerging)


def simulate(scene: Scene, frames: int, events: dict | None = None) -> np.ndarray:
    """The frames of :func:`record`: ``(frames, size, size, 3)`` uint8."""
    return record(scene, frames, events).frames


# ---------------------------------------------------------------------------- scenes
def _free(scene: Scene, b: Body, others: list[Body]) -> bool:
    """Body ``b`` is clear of every solid, and at least 1 px from every other body."""
    if any(_contact(b, rect) is not None for rect in scene.solids()):
        return False
    grown = replace(b, r=b.r + (1.0 / SQUARE_HALF if b.shape == "square" else 1.0))
    return all(_contact(grown, o) is None for o in others)


def random_body(
    scene: Scene, rng: np.random.Generator, style: Style, others: list[Body]
) -> Body | None:
    """A body at a free place in the air with a modest velocity (None if none fits)."""
    r = float(rng.uniform(*style.radius))
    shape = str(rng.choice(style.shapes))
    for _ in range(50):
        x = float(rng.uniform(r + 1, scene.size - r - 1))
        y = float(rng.uniform(r + 2, scene.size * 0.7))
        b = Body(x, y, 0.0, 0.0, r, 0.0, shape)
        if _free(scene, b, others):
            # Little enough energy that bodies stay inside the box.
            b.vx = float(rng.uniform(-1.5, 1.5))
            b.vy = float(rng.uniform(-1.2, 1.0))
            b.hue = style.sample_hue(rng)
            return b
    return None


def random_scene(rng: np.random.Generator, style: Style = TRAIN_STYLE, size: int = 32) -> Scene:
    """A fresh random scene: 1-3 bodies, a pillar half the time, a screen half the time."""
    if size < 24:
        raise JepalabError(f"physics clips need at least 24 px, got {size}")
    scene = Scene(size=size)
    if rng.random() < 0.5:
        x0 = float(rng.uniform(0.3, 0.65) * size)
        h = float(rng.uniform(0.25, 0.5) * size)
        scene.pillar = (x0, size - scene.floor - h, x0 + 3.0, float(size))
    if rng.random() < 0.5:
        w, h = float(rng.uniform(5, 8)), float(rng.uniform(8, 14))
        x0 = float(rng.uniform(2, size - 2 - w))
        y0 = float(rng.uniform(3, size - scene.floor - 2 - h))
        scene.screen = (x0, y0, x0 + w, y0 + h)
    for _ in range(int(rng.integers(1, 4))):
        b = random_body(scene, rng, style, scene.bodies)
        if b is not None:
            scene.bodies.append(b)
    return scene


def state_at(scene: Scene, t: int) -> Scene:
    """A copy of the scene as it is at frame ``t``."""
    s = copy.deepcopy(scene)
    for _ in range(t):
        step(s)
    return s


def bounced(contacts: list[Contact], what: Literal["body", "solid"]) -> bool:
    """Whether ``contacts`` (one step's) hold a bounce off ``what``: a kick of
    :data:`BOUNCE` or more, not a body resting on it."""
    return any(c.hit == what and c.kick >= BOUNCE for c in contacts)


def bodies_collide(scene: Scene, frames: int, first: int = 2) -> bool:
    """Whether two bodies of ``scene`` hit each other (a kick of :data:`BOUNCE` or more)
    in the step into one of its frames ``first..frames-1``; steps a copy, renders nothing."""
    scene = copy.deepcopy(scene)
    for t in range(1, frames):
        hits = step(scene)
        if t >= first and bounced(hits, "body"):
            return True
    return False


def plausible_scene(
    rng: np.random.Generator,
    frames: int,
    style: Style = TRAIN_STYLE,
    size: int = 32,
    max_offset: int = 0,
    collide: float = 0.0,
) -> Scene:
    """One scene as :func:`plausible_clips` draws it, at its clip's first frame."""
    want = collide > 0 and rng.random() < collide
    for _ in range(500):
        scene = random_scene(rng, style, size)
        if max_offset:
            scene = state_at(scene, int(rng.integers(max_offset + 1)))
        if not want or bodies_collide(scene, frames):
            break
    return scene


def plausible_clips(
    n: int,
    frames: int = 20,
    seed: int = 0,
    style: Style = TRAIN_STYLE,
    size: int = 32,
    max_offset: int = 0,
    collide: float = 0.0,
) -> np.ndarray:
    """``n`` clips that obey the rules: ``(n, frames, size, size, 3)`` uint8.

    Each clip starts after a random ``0..max_offset`` frames of its scene, so that short
    clips also show what the later frames of longer ones do: bodies that fell far are
    fast, and collisions have passed momentum on. A ``collide`` share of them is drawn
    (up to 500 tries) until two bodies hit each other after the clip's first two frames.
    About a third of random 12-frame clips show that, and it is what surprises a video
    model most in plausible clips (the frame of such a collision, or the one after it: a
    median 7-10 times the median frame's surprise, ``benchmarks/surprise_events.py``)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, frames, size, size, 3), np.uint8)
    for i in range(n):
        out[i] = simulate(plausible_scene(rng, frames, style, size, max_offset, collide), frames)
    return out
