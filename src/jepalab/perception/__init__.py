"""Perception module: observations to state embeddings."""

from .encoder import ENCODERS, CNNEncoder, make_encoder, to_float_images

__all__ = ["ENCODERS", "CNNEncoder", "make_encoder", "to_float_images"]
