"""jepalab: JEPA world models that learn from pixels, plan in latent space and know surprise.

The package is laid out as the modules of LeCun's "A Path Towards Autonomous Machine
Intelligence": ``perception``, ``world_model``, ``cost``, ``actor`` (and, to come,
``memory`` and ``configurator``), with ``envs``, ``data``, ``train`` and ``eval`` around
them. The few-line API:

    import jepalab
    cfg = jepalab.RunConfig(out_dir="runs/mine")
    jepalab.collect(cfg)
    result = jepalab.train(cfg)
    print(jepalab.evaluate(result.model, cfg).success_rate)
"""

from .agent import Agent
from .config import RunConfig, load_config
from .errors import JepalabError
from .pipeline import collect, evaluate, run_all, train
from .training import load_world_model

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "JepalabError",
    "RunConfig",
    "collect",
    "evaluate",
    "load_config",
    "load_world_model",
    "run_all",
    "train",
]
