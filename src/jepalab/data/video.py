"""Streaming reads of videos, frame arrays and image folders (``jepalab surprise``,
``jepalab convert``), and :func:`resize_frames`.

:func:`iter_video` yields ``(n, H, W, 3)`` uint8 RGB chunks, ``n <= chunk``, in order; it
holds at most about two chunks of frames at once, so a video of any length fits. What
``path`` is decides the source:

- a video file (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ``.webm``): decoded with PyAV;
- a ``.gif``: read with Pillow;
- a ``.npy`` array ``(T, H, W, 3)``, ``(T, H, W, 1)``, ``(T, H, W, 4)`` (alpha dropped) or
  grayscale ``(T, H, W)``, uint8 or float in ``[0, 1]``: memory-mapped, read a chunk at a
  time;
- a folder: its images (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``, any case) in natural
  order (``frame2`` before ``frame10``), one file at a time.

Grayscale, palette and RGBA frames become RGB. Anything wrong with the input raises
:class:`~jepalab.errors.DataError` naming the file and the problem: problems with the
path itself (missing, unsupported type, an empty folder, a ``.npy`` of the wrong shape
or dtype) when :func:`iter_video` is called, problems inside the data (an undecodable or
mixed-size frame, NaN, no frames at all) when the stream reaches them.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageSequence

from jepalab.errors import ConfigError, DataError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
ARRAY_SUFFIX = ".npy"

# What PyAV and Pillow raise on corrupt, truncated or mislabelled files. FFmpegError is
# listed because some of its subclasses derive from no builtin error; Pillow uses
# SyntaxError and struct.error for some malformed headers.
_AV_ERRORS = (av.FFmpegError, OSError, ValueError, EOFError)
_PIL_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    SyntaxError,
    struct.error,
    Image.DecompressionBombError,
)
# Float .npy frames are converted this many bytes of source at a time, so a float64
# chunk does not need a float temporary 8x the size of the uint8 chunk it becomes.
_NPY_READ_BYTES = 64 << 20
# Float frames may overshoot [0, 1] by under half a uint8 step (rounding noise from
# arithmetic) and are clipped; anything further out is most likely a [0, 255] array.
_FLOAT_SLACK = 0.5 / 255

Chunks = Generator[np.ndarray, None, None]


def iter_video(path: str | Path, chunk: int = 256) -> Iterator[np.ndarray]:
    """Stream the frames of a video file, ``.gif``, ``.npy`` array or image folder.

    Args:
        path: the video, array or folder (see the module docstring).
        chunk: the most frames per yielded array; it bounds memory.

    Yields:
        ``(n, H, W, 3)`` uint8 RGB arrays with ``1 <= n <= chunk``, fresh and writable,
        covering every frame in order. A one-frame video yields one ``(1, H, W, 3)``.

    Raises:
        DataError: on a bad input, at the call for problems with the path and header,
            otherwise when the stream reaches the problem (see the module docstring).
        ConfigError: when ``chunk`` is not a positive integer.
    """
    return _open_stream(Path(path), chunk)


def read_video(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """All frames of ``path`` (or its first ``max_frames``) as one ``(T, H, W, 3)`` uint8
    RGB array; for short videos, since the whole result is in memory.

    Reading stops, and the file is closed, as soon as ``max_frames`` frames are in.
    Raises :class:`DataError` like :func:`iter_video`.
    """
    if max_frames is not None and (int(max_frames) != max_frames or max_frames < 1):
        raise ConfigError(f"max_frames must be a positive integer or None, got {max_frames}")
    chunk = 256 if max_frames is None else min(256, int(max_frames))
    stream = _open_stream(Path(path), chunk)
    parts: list[np.ndarray] = []
    count = 0
    try:
        for part in stream:
            parts.append(part)
            count += len(part)
            if max_frames is not None and count >= max_frames:
                break
    finally:
        stream.close()  # releases the decoder and file when stopping early
    frames = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return frames if max_frames is None else frames[:max_frames]


def resize_frames(frames: np.ndarray, shape: tuple[int, int, int]) -> torch.Tensor:
    """uint8 frames ``(n, H', W', C)`` -> uint8 ``(n, H, W, C)`` for ``shape = (H, W, C)``
    (area averaging; the aspect ratio is not kept: the whole frame stays in view)."""
    x = torch.from_numpy(np.ascontiguousarray(frames))
    if tuple(x.shape[1:]) == tuple(shape):
        return x
    if x.shape[-1] != shape[-1]:
        raise DataError(f"frames have {x.shape[-1]} channels; expected {shape[-1]}")
    y = F.interpolate(x.movedim(-1, 1).float(), size=shape[:2], mode="area")
    return y.round().clamp(0, 255).to(torch.uint8).movedim(1, -1)


def _open_stream(path: Path, chunk: int) -> Chunks:
    """Check what can be checked without decoding, then return the chunk generator."""
    if int(chunk) != chunk or chunk < 1:
        raise ConfigError(f"chunk must be a positive integer, got {chunk}")
    chunk = int(chunk)
    if not path.exists():
        raise DataError(f"no video at {path} (no such file or folder)")
    if path.is_dir():
        files = _image_files(path)
        return _batched(_folder_frames(files), chunk, path, [f.name for f in files])
    suffix = path.suffix.lower()
    if suffix == ARRAY_SUFFIX:
        return _npy_chunks(path, _open_npy(path), chunk)
    if suffix == ".gif":
        return _batched(_gif_frames(path), chunk, path)
    if suffix in VIDEO_SUFFIXES:
        return _batched(_av_frames(path), chunk, path)
    hint = "; to read one image as a video, put it in a folder" if suffix in IMAGE_SUFFIXES else ""
    raise DataError(
        f"{path}: unsupported file type {repr(suffix) if suffix else '(no suffix)'}; "
        "expected a video "
        f"({', '.join(VIDEO_SUFFIXES)}), a {ARRAY_SUFFIX} array of frames, or a folder of "
        f"images ({', '.join(IMAGE_SUFFIXES)}){hint}"
    )


def _batched(
    frames: Generator[np.ndarray, None, None],
    chunk: int,
    path: Path,
    names: list[str] | None = None,
) -> Chunks:
    """Group ``(H, W, 3)`` frames into chunks, checking that every frame has one size.

    ``names`` (for folders) puts each frame's file name into size errors.
    """
    first: tuple[int, ...] | None = None
    buffer: list[np.ndarray] = []
    index = -1
    try:
        for index, frame in enumerate(frames):
            if first is None:
                first = frame.shape
            elif frame.shape != first:
                label = f"frame {index}" + (f" ({names[index]})" if names else "")
                label0 = "frame 0" + (f" ({names[0]})" if names else "")
                raise DataError(
                    f"{path}: {label} is {_size(frame.shape)} but {label0} is {_size(first)} "
                    "(H x W); all frames must have the same size"
                )
            buffer.append(frame)
            if len(buffer) == chunk:
                yield np.stack(buffer)
                buffer = []
    finally:
        # Closes the source's file now, not at garbage collection, on an error or when
        # the consumer stops early.
        frames.close()
    if buffer:
        yield np.stack(buffer)
    if index < 0:
        raise DataError(f"{path}: contains no frames (empty video)")


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[0]}x{shape[1]}"


def _reason(err: BaseException) -> str:
    return str(err) or type(err).__name__


# -- video files ---------------------------------------------------------------------------


def _av_frames(path: Path) -> Generator[np.ndarray, None, None]:
    """Decode the first video stream frame by frame; the container closes on exit,
    including when the consumer stops early."""
    try:
        container = av.open(str(path))
    except _AV_ERRORS as err:
        raise DataError(
            f"{path}: cannot open as a video (corrupt, truncated or not a video?): {_reason(err)}"
        ) from err
    with container:
        if not container.streams.video:
            raise DataError(f"{path}: contains no video stream (an empty or audio-only file)")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: decoding, not conversion, dominates
        yield from _decoded(path, container.decode(stream), _rgb_av, _AV_ERRORS)


# -- GIFs and image folders ----------------------------------------------------------------


def _gif_frames(path: Path) -> Generator[np.ndarray, None, None]:
    try:
        image = Image.open(path)
    except _PIL_ERRORS as err:
        raise DataError(
            f"{path}: cannot open as a GIF (corrupt, truncated or not an image?): {_reason(err)}"
        ) from err
    with image:
        # Pillow composites each GIF frame onto the full canvas, so sizes never vary.
        yield from _decoded(path, ImageSequence.Iterator(image), _rgb_pil, _PIL_ERRORS)


def _rgb_av(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def _rgb_pil(frame: Image.Image) -> np.ndarray:
    return np.asarray(frame.convert("RGB"))


def _decoded(
    path: Path,
    frames: Iterator[Any],
    to_rgb: Callable[[Any], np.ndarray],
    errors: tuple[type[BaseException], ...],
) -> Generator[np.ndarray, None, None]:
    """RGB arrays of the frames of one open file; a decoding error names the frame."""
    index = 0
    while True:
        # Only decoding sits in the try: exceptions from the consumer never reach it.
        try:
            frame = next(frames, None)
            if frame is None:
                return
            rgb = to_rgb(frame)
        except errors as err:
            raise DataError(
                f"{path}: cannot decode frame {index} (corrupt or truncated file?): {_reason(err)}"
            ) from err
        yield rgb
        index += 1


def _natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    # Digit runs compare as numbers; re.split alternates text and digits, so the parts
    # at each position always have the same type. The name itself breaks ties (f01, f1).
    parts = re.split(r"(\d+)", name.casefold())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def _image_files(folder: Path) -> list[Path]:
    try:
        files = [
            f
            for f in folder.iterdir()
            # Hidden files are skipped: "._frame1.png" from macOS is metadata, not a frame.
            if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file()
        ]
    except OSError as err:
        raise DataError(f"{folder}: cannot list the folder: {_reason(err)}") from err
    if not files:
        raise DataError(
            f"{folder}: contains no image files ({', '.join(IMAGE_SUFFIXES)}), so no frames"
        )
    return sorted(files, key=lambda f: _natural_key(f.name))


def _folder_frames(files: list[Path]) -> Generator[np.ndarray, None, None]:
    for file in files:
        try:
            with Image.open(file) as image:
                rgb = np.asarray(image.convert("RGB"))
        except _PIL_ERRORS as err:
            raise DataError(
                f"{file}: cannot read the image (corrupt, truncated or not an image?): "
                f"{_reason(err)}"
            ) from err
        yield rgb


# -- .npy arrays ---------------------------------------------------------------------------


def _open_npy(path: Path) -> np.ndarray:
    """Memory-map ``path`` and check its shape and dtype; returns ``(T, H, W, C)``."""
    # np.load guesses "pickle" for any unknown bytes and opens zips as archives: look at
    # the magic first so the message says what the file really is.
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as err:
        raise DataError(f"{path}: cannot read the file: {_reason(err)}") from err
    if magic.startswith(b"PK"):
        raise DataError(f"{path}: is an .npz (zip) archive, not a single .npy array of frames")
    if magic != b"\x93NUMPY":
        raise DataError(f"{path}: is not a .npy file (it lacks the .npy header)")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(
            f"{path}: cannot read as a .npy array (corrupt, truncated or pickled?): {_reason(err)}"
        ) from err
    shape = array.shape
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3, 4):
        hint = ""
        if array.ndim == 4 and shape[1] in (1, 3, 4):
            hint = " (it looks channels-first: transpose it to (T, H, W, C))"
        raise DataError(
            f"{path}: array has shape {shape}; expected frames (T, H, W, 3), (T, H, W, 1), "
            f"(T, H, W, 4) or grayscale (T, H, W){hint}"
        )
    if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        raise DataError(
            f"{path}: array has dtype {array.dtype}; expected uint8, or float in [0, 1]"
        )
    if shape[0] == 0:
        raise DataError(f"{path}: contains no frames (shape {shape})")
    if shape[1] == 0 or shape[2] == 0:
        raise DataError(f"{path}: frames have no pixels (shape {shape})")
    return array


def _npy_chunks(path: Path, array: np.ndarray, chunk: int) -> Chunks:
    t, h, w, c = array.shape
    step = max(1, min(chunk, _NPY_READ_BYTES // (h * w * c * array.itemsize)))
    for lo in range(0, t, chunk):
        hi = min(lo + chunk, t)
        out = np.empty((hi - lo, h, w, 3), np.uint8)
        for a in range(lo, hi, step):
            b = min(a + step, hi)
            # Broadcasting turns one channel into three; [:3] drops alpha.
            out[a - lo : b - lo] = _to_uint8(path, array[a:b, ..., :3], a)
        yield out


def _to_uint8(path: Path, block: np.ndarray, start: int) -> np.ndarray:
    """``block`` (frames ``start...``) as uint8; floats checked finite and in [0, 1]."""
    if block.dtype == np.uint8:
        return block
    frames = block.reshape(len(block), -1)
    bad = ~np.isfinite(frames).all(axis=1)
    if bad.any():
        raise DataError(f"{path}: frame {start + int(np.argmax(bad))} contains NaN or infinity")
    lo, hi = float(frames.min()), float(frames.max())
    if lo < -_FLOAT_SLACK or hi > 1 + _FLOAT_SLACK:
        raise DataError(
            f"{path}: float frames must lie in [0, 1], but frames {start}-{start + len(block) - 1}"
            f" span [{lo:g}, {hi:g}] (a [0, 255] array should be saved as uint8)"
        )
    scaled = block.astype(np.float32)  # in-place from here: one temporary, not three
    scaled *= 255
    np.rint(scaled, out=scaled)
    return np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)
