"""The procedural physics world and its matched pairs of possible / impossible clips."""

import numpy as np
import pytest

from jepalab.envs.physics import (
    SQUARE_HALF,
    TRAIN_STYLE,
    UNSEEN_STYLE,
    Body,
    Scene,
    plausible_clips,
    random_scene,
    simulate,
    step,
)
from jepalab.envs.violations import (
    DIFF_LEVEL,
    VIOLATIONS,
    first_difference,
    make_pair,
    make_pairs,
)
from jepalab.errors import JepalabError


@pytest.mark.parametrize("shape", ["circle", "square"])
def test_floor_stops_a_falling_body_and_it_bounces_elastically(shape):
    scene = Scene(bodies=[Body(x=16, y=10, vx=0, vy=0, r=2, hue=0.1, shape=shape)])
    half = 2 * (SQUARE_HALF if shape == "square" else 1.0)  # centre to the body's bottom
    floor_top = scene.size - scene.floor
    top, bottom = [], []
    for _ in range(200):
        step(scene)
        b = scene.bodies[0]
        assert b.y + half <= floor_top + 1e-6  # never inside the floor
        top.append(b.y)
        bottom.append(b.y + half)
    # It bounces where it touches the floor, not above it (a square with its side)...
    assert max(bottom) == pytest.approx(floor_top)
    # ...and elastically: it comes back up close to where it was dropped (a sub-step's
    # push out of the floor costs a little height: within a tenth of the drop).
    drop = floor_top - (10 + half)
    assert floor_top - (min(top[100:]) + half) > 0.9 * drop


def test_squares_collide_as_squares_not_as_discs():
    h = 2 * SQUARE_HALF  # half-side of a square of radius 2

    def squares(dx: float, dy: float) -> list[Body]:
        return [
            Body(x=10, y=10, vx=0, vy=0, r=2, hue=0.1, shape="square"),
            Body(x=10 + dx, y=10 + dy, vx=0, vy=0, r=2, hue=0.6, shape="square"),
        ]

    # Faces 0.2 px apart (the discs of the same radius would overlap): nothing moves.
    apart = squares(2 * h + 0.2, 0.0)
    step(Scene(gravity=0.0, bodies=apart))
    assert [(b.x, b.y) for b in apart] == [(10, 10), (10 + 2 * h + 0.2, 10)]
    # Corners overlapping on the diagonal (the discs would not touch): pushed apart.
    corners = squares(1.7 * 2, 1.7 * 2)
    step(Scene(gravity=0.0, bodies=corners))
    a, b = corners
    assert max(abs(b.x - a.x), abs(b.y - a.y)) >= 2 * h - 1e-9


def test_pillar_is_solid_unless_the_rule_is_broken():
    pillar = (14.0, 10.0, 17.0, 32.0)
    ball = Body(x=8, y=22, vx=1.5, vy=0, r=2, hue=0.3)
    solid = Scene(pillar=pillar, gravity=0.0, bodies=[ball])
    ghost = Scene(pillar=pillar, gravity=0.0, bodies=[Body(**{**ball.__dict__, "solid": False})])
    for _ in range(20):
        step(solid)
        step(ghost)
    assert solid.bodies[0].x < 14.0 and ghost.bodies[0].x > 17.0


def test_simulate_is_deterministic_and_does_not_change_the_scene():
    scene = Scene(bodies=[Body(x=10, y=8, vx=1, vy=0, r=2.5, hue=0.5)])
    a, b = simulate(scene, 12), simulate(scene, 12)
    assert a.shape == (12, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and scene.bodies[0].x == 10


def test_plausible_clips_shape():
    clips = plausible_clips(3, frames=10, seed=0)
    assert clips.shape == (3, 10, 32, 32, 3) and clips.std() > 0


def test_an_offset_clip_is_a_later_window_of_its_scene():
    clips = plausible_clips(4, frames=6, seed=3, max_offset=5)
    rng = np.random.default_rng(3)
    offsets = []
    for clip in clips:
        scene = random_scene(rng)
        offset = int(rng.integers(6))
        assert np.array_equal(clip, simulate(scene, offset + 6)[offset:])
        offsets.append(offset)
    assert len(set(offsets)) > 1


@pytest.mark.parametrize("variant", [v for vs in VIOLATIONS.values() for v in vs])
def test_every_variant_gives_a_pair_that_looks_the_same_until_the_violation_frame(variant):
    rng = np.random.default_rng(0)
    possible, impossible, t = make_pair(variant, rng, frames=20)
    assert 6 <= t <= 17
    before = np.abs(possible[:t].astype(int) - impossible[:t].astype(int))
    assert before.max() < DIFF_LEVEL  # a break may start sub-pixel, unseen
    assert np.array_equal(possible[:6], impossible[:6])  # never broken in the context
    assert first_difference(possible, impossible) == t


def test_unseen_style_draws_sizes_and_hues_outside_the_training_ranges():
    rng = np.random.default_rng(0)
    hues = [UNSEEN_STYLE.sample_hue(rng) for _ in range(200)]
    in_train = [any(lo <= h < hi for lo, hi in TRAIN_STYLE.hue_bins) for h in hues]
    assert not any(in_train)
    assert UNSEEN_STYLE.radius[0] > TRAIN_STYLE.radius[1]


def test_make_pairs_counts_and_errors():
    pairs = make_pairs(2, seed=1, frames=16, types=("gravity", "continuity"))
    assert pairs.possible.shape == pairs.impossible.shape == (4, 16, 32, 32, 3)
    assert list(pairs.kind) == ["gravity", "gravity", "continuity", "continuity"]
    with pytest.raises(JepalabError, match="unknown violation types"):
        make_pairs(1, types=("magic",))
