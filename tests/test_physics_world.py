"""The procedural physics world and its matched pairs of possible / impossible clips."""

import numpy as np
import pytest

from jepalab.envs.physics import (
    BOUNCE,
    SQUARE_HALF,
    TRAIN_STYLE,
    UNSEEN_STYLE,
    Body,
    Scene,
    bodies_collide,
    plausible_clips,
    random_scene,
    record,
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
@pytest.mark.parametrize("r", [1.5, 2.0, 3.0])
def test_floor_stops_a_falling_body_and_it_bounces_elastically(shape, r):
    scene = Scene(bodies=[Body(x=16, y=10, vx=0, vy=0, r=r, hue=0.1, shape=shape)])
    half = r * (SQUARE_HALF if shape == "square" else 1.0)  # centre to the body's bottom
    floor_top = scene.size - scene.floor
    drop = floor_top - (10 + half)
    top = []
    for _ in range(400):
        step(scene)
        b = scene.bodies[0]
        assert b.y + half <= floor_top + 1e-6  # never inside the floor
        top.append(b.y)
    # Elastic: every bounce comes back up to the height it was dropped from, the 100th
    # second as the first (the highest frame of each stretch; frames sample the path).
    for k in range(0, 400, 100):
        assert 0.98 * drop <= floor_top - (min(top[k : k + 100]) + half) <= 1.03 * drop


@pytest.mark.parametrize("shape", ["circle", "square"])
def test_a_bounce_reflects_the_path_at_the_bodys_outline(shape):
    # 0.05 px above the floor (a square with its side), 1 px a frame down, no gravity: it
    # turns where its outline meets the floor and ends the frame as far out as it would
    # have gone in.
    half = 2 * (SQUARE_HALF if shape == "square" else 1.0)
    scene = Scene(gravity=0.0, bodies=[Body(x=16, y=0, vx=0, vy=1.0, r=2, hue=0.1, shape=shape)])
    floor_top = scene.size - scene.floor
    b = scene.bodies[0]
    b.y = floor_top - half - 0.05
    step(scene)
    assert b.y + half == pytest.approx(floor_top - 0.95)
    assert b.vy == pytest.approx(-1.0)


def test_two_bodies_collide_keeping_momentum_energy_and_their_paths():
    # Head on, no gravity, masses 1 : 4 (area): momentum and kinetic energy kept, and
    # each ends where its reflected path puts it, not short of it.
    a = Body(x=12, y=12, vx=1.0, vy=0, r=1.5, hue=0.1)
    b = Body(x=20, y=12, vx=-1.0, vy=0, r=3.0, hue=0.6)
    scene = Scene(gravity=0.0, bodies=[a, b])
    ma, mb = a.r**2, b.r**2
    p0, e0 = ma * a.vx + mb * b.vx, ma * a.vx**2 + mb * b.vx**2
    for _ in range(5):
        step(scene)
    assert ma * a.vx + mb * b.vx == pytest.approx(p0)
    assert ma * a.vx**2 + mb * b.vx**2 == pytest.approx(e0)
    # The centre of mass moves on as if nothing happened.
    centre = (ma * 12 + mb * 20 + 5 * p0) / (ma + mb)
    assert (ma * a.x + mb * b.x) / (ma + mb) == pytest.approx(centre)
    # They touch 1.75 frames in (gap 3.5 px, closing at 2 px a frame) and part at the
    # same 2 px a frame for the remaining 3.25 frames.
    assert b.x - a.x == pytest.approx(a.r + b.r + 2 * 3.25)


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


def test_step_reports_each_collision_with_the_change_of_velocity_it_caused():
    # Equal bodies head on, 1 px/frame each: they swap velocities, a kick of 2 px/frame.
    a = Body(x=10, y=10, vx=1, vy=0, r=2, hue=0.1)
    b = Body(x=14.5, y=10, vx=-1, vy=0, r=2, hue=0.6)
    scene = Scene(gravity=0.0, bodies=[a, b])
    hits = step(scene)
    assert [c.hit for c in hits] == ["body"] and hits[0].kick == pytest.approx(2.0)
    assert hits[0].x == pytest.approx((a.x + b.x) / 2)
    assert (a.vx, b.vx) == (pytest.approx(-1.0), pytest.approx(1.0))
    # A body falling onto the floor bounces (a solid hit, twice its speed); once it rests
    # there, its sub-step touches stay far below a bounce.
    drop = Scene(bodies=[Body(x=16, y=24, vx=0, vy=1.5, r=2, hue=0.3)])
    kicks = [c.kick for _ in range(4) for c in step(drop) if c.hit == "solid"]
    assert kicks and max(kicks) > 3.0
    rest = Scene(gravity=0.2, bodies=[Body(x=16, y=28, vx=0, vy=0, r=2, hue=0.3)])
    for _ in range(3):
        assert all(c.kick < BOUNCE for c in step(rest))


def test_record_says_when_a_body_comes_out_from_behind_the_screen():
    ball = Body(x=6, y=12, vx=1.5, vy=0, r=2, hue=0.3)
    screened = Scene(gravity=0.0, screen=(9.0, 6.0, 16.0, 18.0), bodies=[ball])
    rec = record(screened, 12)
    assert np.array_equal(rec.frames, simulate(screened, 12))
    out = [t for t, came in enumerate(rec.emerging) if came]
    # Hidden from about x = 11 to 14 (frames 4-5); comes out from frame 6 on.
    assert out and min(out) >= 6 and rec.emerging[out[0]][0][0] > 14
    assert not any(record(Scene(gravity=0.0, bodies=[ball]), 12).emerging)


def test_a_collide_share_of_training_clips_shows_two_bodies_hitting_each_other():
    apart = Scene(gravity=0.0, bodies=[Body(x=6, y=10, vx=0, vy=0, r=2, hue=0.1)])
    assert not bodies_collide(apart, 12)
    head_on = Scene(
        gravity=0.0,
        bodies=[
            Body(x=6, y=10, vx=1, vy=0, r=2, hue=0.1),
            Body(x=16, y=10, vx=-1, vy=0, r=2, hue=0.6),
        ],
    )
    assert bodies_collide(head_on, 12) and not bodies_collide(head_on, 12, first=6)
    # Without the option the clips are those drawn before it existed (same random stream).
    assert np.array_equal(plausible_clips(3, 8, seed=4), plausible_clips(3, 8, seed=4, collide=0))
    # With collide 1 every clip is a scene whose bodies hit each other: redraw the stream.
    clips = plausible_clips(4, 12, seed=5, collide=1.0)
    rng = np.random.default_rng(5)
    for clip in clips:
        rng.random()  # the draw that decides whether this clip must show a collision
        scene = random_scene(rng)
        while not bodies_collide(scene, 12):
            scene = random_scene(rng)
        assert np.array_equal(clip, simulate(scene, 12))


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
