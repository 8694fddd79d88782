"""The scene glimpse: it reads the right place of the right scene, tracks what moves, and a
model that needs a scene says so."""

import pytest
import torch

from jepalab.actor import ActionBounds, PlannerConfig, make_planner
from jepalab.cost import GoalEnergy
from jepalab.errors import JepalabError
from jepalab.world_model import WorldModel
from jepalab.world_model.scene import SceneGlimpse


def _glimpse_at_z(points: int = 3) -> SceneGlimpse:
    """A glimpse whose locator reads (x, y) straight from z[:, :2]."""
    g = SceneGlimpse((9, 9, 3), embed_dim=4, keypoints=2, channels=1, glimpses=1, points=points)
    with torch.no_grad():
        g.locator.weight.zero_()
        g.locator.bias.zero_()
        g.locator.weight[0, 0] = g.locator.weight[1, 1] = 1.0
    return g


def test_glimpse_reads_each_environments_scene_at_the_located_point():
    g = _glimpse_at_z()
    # Scene e is constant e + 1 except one bright pixel at the centre of scene 1.
    scene = torch.stack([torch.full((1, 9, 9), 1.0), torch.full((1, 9, 9), 2.0)])
    scene[1, 0, 4, 4] = 10.0
    z = torch.zeros(4, 4)  # 2 environments x 2 candidates, all at the image centre
    out = g.read(scene, z)
    assert out.shape == (4, g.features) == (4, 9)
    assert torch.all(out[:2] == 1.0)  # environment 0's candidates see scene 0 only
    assert out[2, 4] == out[3, 4] == 10.0  # the middle sample of the 3x3 grid is the centre
    assert torch.all(out[2:, [0, 1, 2, 3, 5, 6, 7, 8]] == 2.0)  # its neighbours are 3 px away
    with pytest.raises(JepalabError, match="cannot share 3 scenes"):
        g.read(torch.zeros(3, 1, 9, 9), z)


def test_locator_learns_to_track_the_keypoint_that_moves():
    g = SceneGlimpse((16, 16, 3), embed_dim=4, keypoints=3, channels=1, glimpses=1)
    g.train()
    kp = torch.zeros(8, 5, 3, 2)
    kp[:, :, 2] = torch.linspace(-0.5, 0.5, 5)[None, :, None]  # keypoint 2 moves, others sit
    z = kp[:, :, 2].repeat(1, 1, 2)  # an embedding that carries the moving keypoint
    opt = torch.optim.Adam(g.parameters(), lr=0.05)
    for _ in range(200):
        loss = g.locator_loss(z, kp)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert g.tracked().tolist() == [2]
    assert loss.item() < 1e-3
    assert torch.allclose(g.locate(z[:, 3]), kp[:, 3, 2:], atol=0.05)


def test_a_model_that_reads_the_scene_needs_one():
    model = WorldModel(
        (16, 16, 3), 2, embed_dim=8, encoder="keypoints", channels=(4, 4), scene_channels=2
    )
    obs = torch.randint(0, 255, (2, 16, 16, 3), dtype=torch.uint8)
    z = model.encode(obs)
    with pytest.raises(JepalabError, match=r"pass scene=model\.scene_map"):
        model.rollout(z, torch.zeros(2, 3, 2))
    assert model.rollout(z, torch.zeros(2, 3, 2), model.scene_map(obs)).shape == (2, 3, 8)
    plain = WorldModel((16, 16, 3), 2, embed_dim=8, encoder="keypoints", channels=(4, 4))
    assert plain.scene_map(obs) is None
    assert plain.rollout(plain.encode(obs), torch.zeros(2, 3, 2)).shape == (2, 3, 8)
    with pytest.raises(JepalabError, match="needs the keypoints encoder"):
        WorldModel((16, 16, 3), 2, encoder="cnn", channels=(4, 4), scene_channels=2)


@pytest.mark.parametrize("name", ["cem", "mppi", "gradient"])
def test_planners_hand_each_environment_its_scene(name):
    class SceneChecker:
        """A point mass that fails loudly unless rollouts come with one scene per env."""

        def rollout(self, z0, actions, scene=None):
            assert scene is not None and z0.shape[0] % scene.shape[0] == 0
            per_env = z0.shape[0] // scene.shape[0]
            assert torch.equal(scene.repeat_interleave(per_env, 0), z0[:, :1])
            return z0[:, None] + actions.cumsum(1)

    cfg = PlannerConfig(name=name, horizon=4, action_repeat=1, samples=8, elites=2, iterations=2)
    bounds = ActionBounds((-1.0, -1.0), (1.0, 1.0))
    planner = make_planner(SceneChecker(), GoalEnergy(), bounds, cfg)
    z0 = torch.tensor([[0.0, 0.0], [3.0, 0.0]])  # each env's scene holds its own x
    result = planner.plan(z0, z0 + 1, scene=z0[:, :1].clone())
    assert result.actions.shape == (2, 4, 2)
