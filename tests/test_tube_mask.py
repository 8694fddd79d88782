"""Tube masks (V-JEPA's masking of the predictor's input) and training with them."""

import pytest
import torch

from jepalab.errors import ConfigError, JepalabError
from jepalab.training.video_trainer import VideoTrainer, load_video_model, video_loss
from jepalab.world_model.objectives import AntiCollapse
from jepalab.world_model.tube_mask import FRAMES, at_map_resolution, tube_masks
from jepalab.world_model.video_jepa import VideoJEPA

from .test_surprise import tiny_video_config


def _one_moving_block(t: int = 10) -> torch.Tensor:
    """A grey clip ``(1, t, 32, 32, 3)`` in which one 2x2 white block moves right 2 px a frame."""
    clip = torch.full((1, t, 32, 32, 3), 60, dtype=torch.uint8)
    for i in range(t):
        clip[0, i, 15:17, 4 + 2 * i : 6 + 2 * i] = 255
    return clip


def test_a_tube_hides_the_moving_body_for_a_few_frames_and_never_the_first_or_last():
    clip = _one_moving_block()
    for seed in range(20):
        mask = tube_masks(clip, 1.0, torch.Generator().manual_seed(seed))[0]
        frames = mask.flatten(1).any(1).nonzero().flatten().tolist()
        assert frames and frames[0] >= 1 and frames[-1] <= 8
        assert len(frames) <= FRAMES[1] and frames == list(range(frames[0], frames[-1] + 1))
        first = frames[0]  # the block's pixels that changed into the tube's first frame
        changed = (clip[0, first].int() - clip[0, first - 1].int()).abs().sum(-1) > 0
        assert mask[first][changed].any()


def test_no_share_no_mask_and_a_share_outside_zero_to_one_is_refused(tmp_path):
    clips = _one_moving_block().expand(5, -1, -1, -1, -1)
    assert not tube_masks(clips, 0.0).any()
    assert tube_masks(clips, 1.0).flatten(1).any(1).all()
    with pytest.raises(JepalabError, match="mask share"):
        tube_masks(clips, 1.5)
    with pytest.raises(ConfigError, match=r"video\.mask"):
        VideoTrainer(tiny_video_config(tmp_path, "--video.mask", "-0.1"))


def test_a_map_position_is_hidden_when_any_of_its_pixels_is():
    mask = torch.zeros(1, 2, 32, 32, dtype=torch.bool)
    mask[0, 1, 5, 6] = True
    coarse = at_map_resolution(mask, (16, 16))
    assert coarse.shape == (1, 2, 16, 16) and coarse.sum() == 1 and coarse[0, 1, 2, 3]


def test_hiding_the_input_changes_predictions_only_from_the_hidden_frame_on():
    torch.manual_seed(0)
    m = VideoJEPA(context=2, channels=8, hidden=8, masking=True).eval()
    m.predictor.head.reset_parameters()  # a predictor that does something
    with torch.no_grad():
        m.mask_token.normal_()
        s = m.encode(_one_moving_block(8))
        mask = torch.zeros(1, 8, 32, 32, dtype=torch.bool)
        mask[0, 4, 10:20, 10:20] = True
        whole, _ = m.predict(s)
        hidden, _ = m.predict(m.hide(s, mask))
    # Predictions of frames 2..7; frame 4's map is first read for the prediction of frame 5.
    assert torch.equal(whole[:, :3], hidden[:, :3])
    assert (whole[:, 3] - hidden[:, 3]).abs().max() > 1e-4
    with pytest.raises(JepalabError, match="without masking"):
        VideoJEPA(channels=8, hidden=8).hide(s, mask)


def test_the_mask_token_trains_and_round_trips_through_the_checkpoint(tmp_path):
    model = VideoJEPA(context=2, channels=8, hidden=8, masking=True)
    model.predictor.head.reset_parameters()
    clips = _one_moving_block(6).expand(2, -1, -1, -1, -1)
    mask = tube_masks(clips, 1.0, torch.Generator().manual_seed(0))
    loss, _, _ = video_loss(model, AntiCollapse(), clips, 64, mask)
    loss.backward()
    assert model.mask_token.grad.abs().sum() > 0

    result = VideoTrainer(tiny_video_config(tmp_path, "--video.mask", "1.0")).fit(progress=False)
    loaded, meta = load_video_model(result.checkpoint)
    assert meta["config"]["video"]["mask"] == 1.0
    assert torch.equal(loaded.mask_token, result.model.mask_token)
    assert not torch.equal(loaded.mask_token, torch.zeros(8))  # it learnt something
