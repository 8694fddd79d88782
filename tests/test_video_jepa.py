"""Video JEPA shapes, surprise definition and bad input."""

import pytest
import torch

from jepalab.config import RunConfig
from jepalab.errors import ConfigError, JepalabError
from jepalab.training.video_trainer import check_video_config
from jepalab.world_model.video_jepa import VideoJEPA
from jepalab.world_model.video_predictor import PREDICTORS

STRIDES_AND_PREDICTORS = pytest.mark.parametrize(
    "stride,predictor", [(s, p) for s in (1, 2) for p in PREDICTORS]
)


@STRIDES_AND_PREDICTORS
def test_energy_is_zero_in_the_context_and_matches_the_definition(stride, predictor):
    torch.manual_seed(0)
    m = VideoJEPA(context=3, channels=8, hidden=16, stride=stride, predictor=predictor).eval()
    m.predictor.head.reset_parameters()  # a predictor that does something
    clips = torch.randint(0, 256, (2, 7, 32, 32, 3), dtype=torch.uint8)
    with torch.no_grad():
        e = m.energy(clips)
        s = m.encode(clips)
        pred, _ = m.predict(s)
    assert e.shape == (2, 7) and (e[:, :3] == 0).all()
    # frame 3 is predicted from frames 0..2
    assert torch.allclose(e[:, 3], (pred[:, 0] - s[:, 3]).pow(2).sum((1, 2, 3)))
    assert s.shape == (2, 7, 8, 32 // stride, 32 // stride)


@STRIDES_AND_PREDICTORS
def test_an_untrained_predictor_copies_the_last_map_so_a_still_video_is_unsurprising(
    stride, predictor
):
    m = VideoJEPA(context=2, channels=8, hidden=16, stride=stride, predictor=predictor)
    still = torch.randint(0, 256, (1, 1, 32, 32, 3), dtype=torch.uint8).expand(1, 6, 32, 32, 3)
    with torch.no_grad():
        assert m.energy(still).abs().max() < 1e-9


@STRIDES_AND_PREDICTORS
def test_the_displacement_field_moves_content(stride, predictor):
    """A constant displacement of one patch to the right shifts the last map by one patch."""
    m = VideoJEPA(context=1, channels=8, hidden=8, stride=stride, predictor=predictor)
    with torch.no_grad():
        m.predictor.head.bias[-2] = 1.0  # x displacement, in patches
        s = torch.randn(1, 2, 8, 32 // stride, 32 // stride)
        pred = m.predict(s)[0][:, 0]
    assert torch.allclose(pred[..., 1:], s[:, 0, ..., :-1], atol=1e-5)


@pytest.mark.parametrize("predictor", PREDICTORS)
def test_only_the_recurrent_predictor_remembers_beyond_its_context(predictor):
    """Changing frame 0 changes the prediction of frame 5 (context 2) only with memory."""
    torch.manual_seed(0)
    m = VideoJEPA(context=2, channels=8, hidden=8, predictor=predictor).eval()
    m.predictor.head.reset_parameters()
    s = torch.randn(1, 6, 8, 32, 32)
    other = s.clone()
    other[:, 0] += 1.0
    with torch.no_grad():
        a, b = m.predict(s)[0][:, -1], m.predict(other)[0][:, -1]
    assert (a - b).abs().max().item() > 1e-4 if predictor == "recurrent" else torch.equal(a, b)


def test_the_recurrent_predictor_is_a_convolutional_gru_over_map_and_change():
    """The split recurrence (input half batched over frames) equals the textbook ConvGRU
    step on ``cat(s_i, s_i - s_{i-1})``, with the gates and candidate convolving
    ``cat(x, h)`` and ``cat(x, r * h)``."""
    torch.manual_seed(0)
    m = VideoJEPA(context=2, channels=8, hidden=8, predictor="recurrent").eval()
    m.predictor.head.reset_parameters()
    p, s = m.predictor, torch.randn(2, 6, 8, 32, 32)
    with torch.no_grad():
        pred, (h_kept, _) = p(s)
        h, prev, states = None, s[:, 0], []
        for i in range(5):
            x = torch.nn.functional.gelu(p.first(torch.cat([s[:, i], s[:, i] - prev], 1)))
            h = torch.zeros_like(x) if h is None else h
            z, r = torch.sigmoid(p.gates(torch.cat([x, h], 1))).chunk(2, 1)
            h = (1 - z) * h + z * torch.tanh(p.candidate(torch.cat([x, r * h], 1)))
            prev = s[:, i]
            states.append(h)
        expected = p.warp(
            s[:, 1:5].flatten(0, 1), p.head(p.net(torch.stack(states[1:], 1).flatten(0, 1)))
        )
    assert torch.allclose(pred.flatten(0, 1), expected, atol=1e-5)
    assert torch.allclose(h_kept, states[3], atol=1e-6)  # the memory of maps 0..T-context-1


@pytest.mark.parametrize("stride", [1, 2])
def test_region_surprise_prefers_a_body_sized_error_to_a_single_hot_patch(stride):
    """``max`` follows the single hottest patch; ``region`` the hottest 5 px square."""
    size = 32 // stride

    class Fixed(VideoJEPA):
        def error_maps(self, frames, memory=None):
            e = torch.zeros(frames.shape[0], frames.shape[1] - self.context, size, size)
            e[:, 0, 7, 7] = 25.0  # frame 1: one hot patch
            e[:, 1, :4, :4] = 2.0  # frame 2: a weaker error over a body-sized place
            return e, memory

    m = Fixed(context=1, stride=stride)
    clips = torch.zeros(1, 3, 32, 32, 3, dtype=torch.uint8)
    peak = m.energy(clips, "max")[0]
    region = m.energy(clips, "region")[0]
    assert peak.tolist() == [0.0, 25.0, 2.0]
    w = 5 // stride  # round(5 / stride) map positions
    assert region[1].item() == pytest.approx(25.0 / w**2) and region[2].item() == 2.0
    with pytest.raises(JepalabError, match="unknown spatial aggregation 'median'"):
        m.energy(clips, "median")


def test_bad_input_is_named():
    m = VideoJEPA(context=4)
    with pytest.raises(JepalabError, match="more than 4 frames"):
        m.energy(torch.zeros(1, 4, 32, 32, 3, dtype=torch.uint8))
    with pytest.raises(JepalabError, match="encoder expects"):
        m.energy(torch.zeros(1, 8, 16, 16, 3, dtype=torch.uint8))
    with pytest.raises(JepalabError, match="context"):
        VideoJEPA(context=0)
    with pytest.raises(JepalabError, match="stride"):
        VideoJEPA(stride=4)
    with pytest.raises(JepalabError, match="unknown predictor 'lstm'"):
        VideoJEPA(predictor="lstm")
    with pytest.raises(JepalabError, match="encoder kernel must be one of"):
        VideoJEPA(kernel=5)
    cfg = RunConfig()
    cfg.video.encoder_kernel = 2
    with pytest.raises(ConfigError, match=r"video\.encoder_kernel must be one of \(1, 3\)"):
        check_video_config(cfg.video)


@pytest.mark.parametrize(
    "kernel,stride,reach", [(1, 1, (0, 0)), (3, 1, (2, 2)), (1, 2, (0, 0)), (3, 2, (2, 2))]
)
def test_the_map_encoder_reads_as_far_as_its_kernel(kernel, stride, reach):
    """A changed pixel changes the map vectors within ``reach`` (below, above) of its own
    and no others: with kernel 1 only its own patch's vector (its pixel at stride 1)."""
    torch.manual_seed(0)
    enc = VideoJEPA(channels=8, stride=stride, kernel=kernel).encoder
    frame = torch.randint(0, 256, (1, 32, 32, 3), dtype=torch.uint8)
    other = frame.clone()
    other[0, 10, 20] = 255 - other[0, 10, 20]
    with torch.no_grad():
        moved = (enc(frame) - enc(other)).abs().sum(1)[0] > 0
    ys, xs = torch.nonzero(moved, as_tuple=True)
    for at, own in ((ys, 10 // stride), (xs, 20 // stride)):
        assert (own - at.min(), at.max() - own) == reach
