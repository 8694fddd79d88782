"""Anti-collapse objectives behind one interface (:class:`AntiCollapse`)."""

from torch import nn

from ...config import ObjectiveConfig
from ...errors import JepalabError
from .base import AntiCollapse
from .ema import EMATarget
from .sigreg import SIGReg, epps_pulley, sigreg
from .vicreg import VICReg, covariance_term, variance_term

OBJECTIVES = ("vicreg", "sigreg", "ema")


def make_objective(cfg: ObjectiveConfig, model: nn.Module) -> AntiCollapse:
    if cfg.name == "vicreg":
        return VICReg(cfg.std_weight, cfg.cov_weight)
    if cfg.name == "sigreg":
        return SIGReg(cfg.sigreg_weight, cfg.sigreg_projections)
    if cfg.name == "ema":
        return EMATarget(model.encoder, cfg.ema_momentum)
    raise JepalabError(f"unknown objective '{cfg.name}'; choose one of {list(OBJECTIVES)}")


__all__ = [
    "OBJECTIVES",
    "AntiCollapse",
    "EMATarget",
    "SIGReg",
    "VICReg",
    "covariance_term",
    "epps_pulley",
    "make_objective",
    "sigreg",
    "variance_term",
]
