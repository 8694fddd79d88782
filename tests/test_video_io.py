"""Video reading: every source round-trips, chunks stream in order, bad inputs raise DataError."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from jepalab.data.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, iter_video, read_video
from jepalab.errors import ConfigError, DataError

T, H, W = 12, 32, 48  # H != W catches transposed frames; even sizes suit yuv420p


def smooth_frames(t: int = T, h: int = H, w: int = W) -> np.ndarray:
    """``(t, h, w, 3)`` uint8 gradients whose brightness rises with the frame index.

    Smooth content keeps lossy codecs close to the source; the rising brightness lets a
    test see the order of decoded frames.
    """
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 100 / w, y * 100 / h, (x + y) * 50 / (h + w)], axis=-1)
    return np.stack([base + 12 * i for i in range(t)]).round().astype(np.uint8)


def write_video(path: Path, frames: np.ndarray, codec: str = "libx264") -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())  # flush the frames the encoder still holds
    return path


def block_frames(t: int = T, h: int = H, w: int = W) -> np.ndarray:
    """Distinct frames of a few flat colours each, so a GIF palette stores them exactly."""
    frames = np.zeros((t, h, w, 3), np.uint8)
    for i in range(t):
        frames[i, : h // 2] = (10 * i, 200, 30)
        frames[i, h // 2 :, : w // 3] = (250, 5 * i, 90)
        frames[i, h // 2 :, w // 3 :] = (0, 0, 255 - 7 * i)
    return frames


def write_gif(path: Path, frames: np.ndarray, mode: str = "RGB") -> Path:
    images = [Image.fromarray(f).convert(mode) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def write_folder(folder: Path, frames: np.ndarray, suffix: str = ".png") -> Path:
    folder.mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"frame{i + 1}{suffix}")
    return folder


def chunks_of(path: Path, chunk: int) -> list[np.ndarray]:
    return list(iter_video(path, chunk=chunk))


# -- round trips ---------------------------------------------------------------------------


def test_constants_list_the_accepted_suffixes():
    assert ".mp4" in VIDEO_SUFFIXES and ".gif" in VIDEO_SUFFIXES
    assert set(IMAGE_SUFFIXES) == {".png", ".jpg", ".jpeg", ".bmp"}


def test_mp4_round_trip_is_close_and_in_order(tmp_path):
    frames = smooth_frames()
    video = read_video(write_video(tmp_path / "clip.mp4", frames))
    assert video.shape == (T, H, W, 3) and video.dtype == np.uint8
    assert np.abs(video.astype(int) - frames).mean() < 4  # lossy codec, smooth content
    assert (np.diff(video.reshape(T, -1).mean(axis=1)) > 0).all()


def test_other_container_and_upper_case_suffix(tmp_path):
    frames = smooth_frames(t=4)
    video = read_video(write_video(tmp_path / "clip.MKV", frames, codec="mpeg4"))
    assert video.shape == (4, H, W, 3)
    assert np.abs(video.astype(int) - frames).mean() < 8


def test_gif_round_trip_is_exact(tmp_path):
    frames = block_frames()
    video = read_video(write_gif(tmp_path / "clip.gif", frames))
    assert video.shape == (T, H, W, 3)
    np.testing.assert_array_equal(video, frames)


def test_grayscale_gif_becomes_rgb(tmp_path):
    frames = block_frames()
    gray = np.stack([np.asarray(Image.fromarray(f).convert("L")) for f in frames])
    video = read_video(write_gif(tmp_path / "gray.gif", frames, mode="L"))
    np.testing.assert_array_equal(video, np.repeat(gray[..., None], 3, axis=-1))


def test_png_folder_in_natural_order_with_mixed_modes(tmp_path):
    frames = smooth_frames()
    folder = write_folder(tmp_path / "frames", frames)
    # frame10 must come after frame9, not after frame1; other files are not frames.
    (folder / "notes.txt").write_text("not a frame")
    (folder / "sub").mkdir()
    # Grayscale, RGBA and an upper-case suffix are frames too.
    gray = np.asarray(Image.fromarray(frames[2]).convert("L"))
    Image.fromarray(gray).save(folder / "frame3.png")
    Image.fromarray(frames[3]).convert("RGBA").save(folder / "frame4.png")
    (folder / "frame5.png").rename(folder / "frame5.PNG")
    expected = frames.copy()
    expected[2] = gray[..., None]
    video = read_video(folder)
    assert video.shape == (T, H, W, 3)
    np.testing.assert_array_equal(video, expected)


def test_jpeg_folder_is_close(tmp_path):
    frames = smooth_frames(t=3)
    video = read_video(write_folder(tmp_path / "jpegs", frames, suffix=".jpg"))
    assert video.shape == (3, H, W, 3)
    assert np.abs(video.astype(int) - frames).mean() < 4


@pytest.mark.parametrize(
    "array, expected",
    [
        (block_frames(), block_frames()),
        (block_frames() / 255.0, block_frames()),
        ((block_frames() / 255.0).astype(np.float32), block_frames()),
        (block_frames()[..., 0], np.repeat(block_frames()[..., :1], 3, axis=-1)),
        (block_frames()[..., :1], np.repeat(block_frames()[..., :1], 3, axis=-1)),
        (np.concatenate([block_frames(), np.full((T, H, W, 1), 7, np.uint8)], -1), block_frames()),
    ],
    ids=["uint8", "float64", "float32", "gray", "one-channel", "rgba"],
)
def test_npy_round_trip_is_exact(tmp_path, array, expected):
    np.save(tmp_path / "frames.npy", array)
    video = read_video(tmp_path / "frames.npy")
    assert video.dtype == np.uint8 and video.flags.writeable
    np.testing.assert_array_equal(video, expected)


def test_single_frame_is_one_chunk(tmp_path):
    np.save(tmp_path / "one.npy", block_frames(t=1))
    folder = write_folder(tmp_path / "one", block_frames(t=1))
    for path in (tmp_path / "one.npy", folder):
        (only,) = chunks_of(path, chunk=4)
        assert only.shape == (1, H, W, 3)


# -- chunking ------------------------------------------------------------------------------


@pytest.fixture
def sources(tmp_path) -> list[Path]:
    frames = smooth_frames()
    np.save(tmp_path / "frames.npy", frames)
    return [
        write_video(tmp_path / "clip.mp4", frames),
        write_gif(tmp_path / "clip.gif", block_frames()),
        write_folder(tmp_path / "frames", frames),
        tmp_path / "frames.npy",
    ]


@pytest.mark.parametrize("chunk", [1, 5, 12, 256])
def test_chunks_cover_all_frames_in_order(sources, chunk):
    for path in sources:
        whole = read_video(path)
        parts = chunks_of(path, chunk)
        sizes = [len(p) for p in parts]
        assert all(1 <= n <= chunk for n in sizes), (path, sizes)
        assert sizes[:-1] == [chunk] * (len(sizes) - 1), (path, sizes)
        np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_read_video_max_frames(sources):
    for path in sources:
        whole = read_video(path)
        np.testing.assert_array_equal(read_video(path, max_frames=5), whole[:5])
        assert len(read_video(path, max_frames=100)) == T


def test_stopping_early_releases_the_file(sources):
    stream = iter_video(sources[0], chunk=2)
    assert next(stream).shape == (2, H, W, 3)
    stream.close()  # must not raise, and must close the container


def test_bad_arguments_raise_config_error(tmp_path):
    np.save(tmp_path / "frames.npy", block_frames())
    with pytest.raises(ConfigError, match="chunk"):
        iter_video(tmp_path / "frames.npy", chunk=0)
    with pytest.raises(ConfigError, match="max_frames"):
        read_video(tmp_path / "frames.npy", max_frames=0)


# -- bad inputs ----------------------------------------------------------------------------


def raises_data_error(path: Path, match: str) -> str:
    with pytest.raises(DataError, match=match) as info:
        read_video(path)
    return str(info.value)


def test_missing_path(tmp_path):
    message = raises_data_error(tmp_path / "nope.mp4", "no such file")
    assert "nope.mp4" in message


def test_unknown_suffix_lists_accepted_ones(tmp_path):
    (tmp_path / "clip.txt").write_text("hello")
    message = raises_data_error(tmp_path / "clip.txt", "unsupported file type '.txt'")
    assert all(s in message for s in (*VIDEO_SUFFIXES, ".npy", *IMAGE_SUFFIXES))
    Image.fromarray(block_frames(t=1)[0]).save(tmp_path / "still.png")
    raises_data_error(tmp_path / "still.png", "put it in a folder")


@pytest.mark.parametrize("name", ["fake.mp4", "fake.webm", "fake.gif"])
def test_not_really_a_video(tmp_path, name):
    (tmp_path / name).write_bytes(b"this is not a video\n" * 50)
    message = raises_data_error(tmp_path / name, "cannot open")
    assert name in message


def test_truncated_mp4(tmp_path):
    data = write_video(tmp_path / "full.mp4", smooth_frames()).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    raises_data_error(tmp_path / "cut.mp4", "cut.mp4: cannot")


def test_truncated_gif(tmp_path):
    data = write_gif(tmp_path / "full.gif", block_frames()).read_bytes()
    (tmp_path / "cut.gif").write_bytes(data[:20])
    raises_data_error(tmp_path / "cut.gif", "cut.gif: cannot")


def test_video_without_frames(tmp_path):
    with av.open(str(tmp_path / "empty.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        out.start_encoding()  # writes the header although no frame follows
    raises_data_error(tmp_path / "empty.mp4", "empty.mp4: contains no (video stream|frames)")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    raises_data_error(tmp_path / "empty", "contains no image files")
    (tmp_path / "empty" / "readme.txt").write_text("no frames here")
    (tmp_path / "empty" / ".hidden.png").write_bytes(b"")
    raises_data_error(tmp_path / "empty", "contains no image files")


def test_corrupt_image_in_folder_names_the_file(tmp_path):
    folder = write_folder(tmp_path / "frames", smooth_frames(t=3))
    (folder / "frame2.png").write_bytes(b"\x89PNG garbage")
    raises_data_error(folder, r"frame2\.png: cannot read the image")


def test_mixed_frame_sizes_name_index_and_sizes(tmp_path):
    folder = write_folder(tmp_path / "frames", smooth_frames(t=4))
    Image.fromarray(smooth_frames(t=1, h=16, w=20)[0]).save(folder / "frame3.png")
    # The first two frames stream out before the mismatch is reached.
    stream = iter_video(folder, chunk=2)
    assert next(stream).shape == (2, H, W, 3)
    with pytest.raises(DataError) as info:
        next(stream)
    message = str(info.value)
    assert "frame 2 (frame3.png) is 16x20" in message
    assert f"frame 0 (frame1.png) is {H}x{W}" in message


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((0, H, W, 3), np.uint8), "contains no frames"),
        (np.zeros((T, H), np.uint8), r"has shape \(12, 32\)"),
        (np.zeros((T, H, W, 2), np.uint8), r"has shape \(12, 32, 48, 2\)"),
        (np.zeros((T, 3, H, W), np.uint8), "channels-first"),
        (np.zeros((T, H, W, 3), np.int64), "dtype int64"),
        (np.zeros((T, H, W, 3), bool), "dtype bool"),
        (np.zeros((T, 0, W, 3), np.uint8), "no pixels"),
    ],
    ids=["empty", "ndim", "channels", "channels-first", "int64", "bool", "zero-size"],
)
def test_bad_npy_header(tmp_path, array, match):
    np.save(tmp_path / "frames.npy", array)
    with pytest.raises(DataError, match=match):
        iter_video(tmp_path / "frames.npy")  # header problems surface at the call


@pytest.mark.parametrize(
    "value, match",
    [(np.nan, "frame 7 contains NaN or infinity"), (np.inf, "NaN or infinity"), (3.0, r"\[0, 1\]")],
)
def test_bad_npy_float_values(tmp_path, value, match):
    array = np.zeros((T, H, W, 3), np.float32)
    array[7, 1, 2, 0] = value
    np.save(tmp_path / "frames.npy", array)
    raises_data_error(tmp_path / "frames.npy", match)


def test_corrupt_npy(tmp_path):
    (tmp_path / "garbage.npy").write_bytes(b"not numpy at all")
    raises_data_error(tmp_path / "garbage.npy", "garbage.npy: is not a .npy file")
    np.save(tmp_path / "full.npy", block_frames())
    data = (tmp_path / "full.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) // 2])
    raises_data_error(tmp_path / "cut.npy", "cut.npy: cannot read")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    raises_data_error(tmp_path / "objects.npy", "objects.npy: cannot read")
    np.savez(tmp_path / "archive.npz", frames=block_frames())
    (tmp_path / "archive.npz").rename(tmp_path / "archive.npy")
    raises_data_error(tmp_path / "archive.npy", r"\.npz \(zip\) archive")
