"""The procedural physics world and its matched pairs of possible / impossible clips."""

import numpy as np
import pytest

from jepalab.envs.physics import (
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


def test_floor_stops_a_falling_body_and_it_bounces_elastically():
    scene = Scene(bodies=[Body(x=16, y=10, vx=0, vy=0, r=2, hue=0.1)])
    top = []
    for _ in range(200):
        step(scene)
        b = scene.bodies[0]
        assert b.y + b.r <= scene.size - scene.floor + 1e-6  # never inside the floor
        top.append(b.y)
    # Elastic: it comes back up close to where it was dropped.
    assert min(top[100:]) < 11.0


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
