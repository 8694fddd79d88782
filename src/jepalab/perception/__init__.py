"""Perception module: observations to state embeddings."""

from .encoder import (
    ENCODERS,
    CNNEncoder,
    KeypointEncoder,
    StackedFrames,
    make_encoder,
    to_float_images,
)

__all__ = [
    "ENCODERS",
    "CNNEncoder",
    "KeypointEncoder",
    "StackedFrames",
    "make_encoder",
    "to_float_images",
]
