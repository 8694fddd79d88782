"""Data-parallel training: ranks stay identical and take the single-process step, only rank
0 writes, resume works under torchrun, and a global batch that does not split evenly is
refused."""

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from jepalab.errors import ConfigError
from jepalab.training import DistInfo, Trainer, load_world_model, read_checkpoint
from jepalab.training.distributed import average_gradients

from .conftest import tiny_config

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_gradients(trainer: Trainer) -> dict[str, torch.Tensor]:
    loss, _, _ = trainer._batch_loss()
    loss.backward()
    if trainer.dist.world_size > 1:
        average_gradients(trainer.params, trainer.dist.world_size)
    return {f"grad.{i}": p.grad for i, p in enumerate(trainer.params)}


def _worker(rank: int, cfg, ports: list[int], dump_dir: str) -> None:
    """One rank, as torchrun would start it: the first step's averaged gradients; then
    3 steps, and a resume to 6, each in a fresh process group."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(ports[0]),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_WORLD_SIZE=str(WORLD),
    )
    grads = _first_gradients(Trainer(cfg))
    torch.distributed.destroy_process_group()
    steps = cfg.train.steps
    cfg.train.steps = 3
    os.environ["MASTER_PORT"] = str(ports[1])
    Trainer(cfg).fit(progress=False)
    cfg.train.steps = steps
    os.environ["MASTER_PORT"] = str(ports[2])
    result = Trainer(cfg).fit(resume=True, progress=False)
    tensors = {k: v.contiguous() for k, v in result.model.state_dict().items()}
    save_file({**tensors, **grads}, os.path.join(dump_dir, f"rank{rank}.safetensors"))


def test_ranks_stay_in_sync_and_match_one_process(tmp_path, tiny_data):
    run, dumps = tmp_path / "run", tmp_path / "dumps"
    dumps.mkdir()
    cfg = tiny_config(run, "--data.path", str(tiny_data), "--train.log_every", "1")
    ports = [_free_port() for _ in range(3)]
    mp.spawn(_worker, args=(cfg, ports, str(dumps)), nprocs=WORLD)

    ranks = [load_file(str(dumps / f"rank{r}.safetensors")) for r in range(WORLD)]
    for k in ranks[0]:
        assert torch.equal(ranks[0][k], ranks[1][k]), k
    # Same global batch, regulariser on all of it, averaged gradients: the gradient of one
    # process (up to the order of floating-point sums). Parameters are not compared after
    # training: Adam turns those last-bit differences into visible ones on the parameters
    # whose gradients are near 0.
    single = Trainer(tiny_config(tmp_path / "single", "--data.path", str(tiny_data)))
    for k, g in _first_gradients(single).items():
        torch.testing.assert_close(ranks[0][k], g, rtol=1e-5, atol=1e-8, msg=k)

    model, saved = load_world_model(run)
    for k, v in model.state_dict().items():
        assert torch.equal(v, ranks[0][k]), k
    assert saved.train.batch_size == 8  # the global batch, as configured
    tensors, meta = read_checkpoint(run / "checkpoints" / "last.safetensors", "world_model")
    assert meta["step"] == 6
    assert not any(k.startswith("module.") for k in tensors)
    # Only rank 0 logged: one line per step, across the first run and the resumed one.
    steps = [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_global_batch_must_split_evenly(tmp_path, tiny_data):
    cfg = tiny_config(tmp_path, "--data.path", str(tiny_data))  # batch 8
    with pytest.raises(ConfigError, match=r"batch_size \(8\).*divisible.*\(3\)"):
        Trainer(cfg, DistInfo(rank=0, world_size=3, local_world_size=3))
    assert not torch.distributed.is_initialized()


def test_bf16_autocast_step_runs(tmp_path, tiny_data, monkeypatch):
    """The autocast path, forced on (this CPU may lack native bf16; emulation still runs)."""
    monkeypatch.setattr("jepalab.training.trainer.native_bf16", lambda device: True)
    cfg = tiny_config(tmp_path, "--data.path", str(tiny_data), "--train.amp", "true")
    trainer = Trainer(cfg)
    assert trainer.amp
    result = trainer.fit(progress=False)
    assert all(v.dtype == torch.float32 for v in result.model.state_dict().values())
    assert result.final["val_pred"] == result.final["val_pred"]  # finite, not NaN
