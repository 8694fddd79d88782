"""Checkpoints as single safetensors files (no pickle), written atomically.

One file holds every tensor (model, objective, auxiliary heads, optimiser moments, RNG
states) under prefixed names, and a JSON document in the safetensors header metadata
(``jepalab`` key) with the format, the kind of model, the resolved config and the
training step. A killed write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError, DataError, JepalabError
from ..io import atomic_path

FORMAT = "jepalab.checkpoint"
VERSION = 1


def save_checkpoint(
    path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    """Atomically write ``tensors`` and JSON-serialisable ``meta`` to ``path``."""
    header = {"format": FORMAT, "version": VERSION, **meta}
    flat = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata={"jepalab": json.dumps(header)})


def read_checkpoint(
    path: str | Path, kind: str | tuple[str, ...]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint of ``kind`` (or one of several kinds); raise
    :class:`CheckpointError` naming any problem."""
    path = Path(path)
    if path.is_dir():
        path = (
            path / "checkpoints" / "last.safetensors" if (path / "checkpoints").is_dir() else path
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("jepalab")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({e})") from None
    if raw is None:
        raise CheckpointError(f"{path} is a safetensors file but not a jepalab checkpoint")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise CheckpointError(f"checkpoint {path} has an unreadable header") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a jepalab checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path} has version {meta.get('version')}; expected {VERSION}"
        )
    kinds = (kind,) if isinstance(kind, str) else kind
    if meta.get("kind") not in kinds:
        want = " or ".join(f"'{k}'" for k in kinds)
        raise CheckpointError(
            f"checkpoint {path} holds a '{meta.get('kind')}' model, not a {want} model"
        )
    return tensors, meta


def run_summary(checkpoint: str | Path) -> dict[str, Any]:
    """The ``metrics.json`` of the run ``checkpoint`` (a run folder, or the file
    ``<run>/checkpoints/last.safetensors``) belongs to; ``{}`` where it has none (a run
    trained without a bench). :class:`DataError` where it is unreadable."""
    run = Path(checkpoint)
    run = run if run.is_dir() else run.parent.parent
    metrics = run / "metrics.json"
    try:
        return json.loads(metrics.read_text()) if metrics.exists() else {}
    except (OSError, ValueError) as err:
        raise DataError(f"{metrics}: not a readable run summary ({err})") from err


def read_addon(
    path: str | Path, kind: str, embed_dim: int, what: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """:func:`read_checkpoint` for a module trained on top of a world model (a high level,
    a hazard probe, a predictor ensemble), which must have been made for the world model's
    ``embed_dim``; ``what`` names it in the error."""
    tensors, meta = read_checkpoint(path, kind)
    if int(meta.get("embed_dim", -1)) != embed_dim:
        raise JepalabError(
            f"{path}: the {what} works on {meta.get('embed_dim')}-d embeddings but the world "
            f"model's are {embed_dim}-d; train it on this world model"
        )
    return tensors, meta


def split_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under ``prefix.``, with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load ``state`` into ``module``; a mismatch raises :class:`CheckpointError` naming
    ``path`` (the module was built from the checkpoint's own header)."""
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path} does not match its own config: {e}") from None


def with_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in state.items()}


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Flatten an optimiser's state into named tensors plus JSON-able param groups."""
    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            tensors[f"optim.{pid}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    return tensors, sd["param_groups"]


def load_optimizer(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]
) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, v in split_prefix(tensors, "optim").items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = v
    opt.load_state_dict({"state": state, "param_groups": groups})
