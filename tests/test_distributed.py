"""Data-parallel training: two CPU processes on the gloo backend, started by torchrun, stay in step.

The test launches this file itself under ``torchrun --nproc_per_node=2`` (the way users start multi-GPU training);
each process trains a tiny model on its shard of the windows and writes its final weights and losses, which the test
then compares.
"""
from __future__ import annotations

import inspect
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ehfusion.distributed import (
    SINGLE_PROCESS,
    DistributedContext,
    broadcast_object,
    environment_ranks,
    init_distributed,
    reduce_mean,
    unwrap_model,
    wrap_model,
)

HERE = Path(__file__).resolve().parent
TINY = dict(filter_widths=(3,), channels=8, latent=8, hidden=16, angle_channels=8, angle_features=4,
            camera_features=4, camera_hidden=4, dropout=0.0)


# ---------------------------------------------------------------------------------------------------------- worker
def _data():
    sys.path.insert(0, str(HERE))
    from conftest import make_sequence

    train = [make_sequence(60 + 4 * i, seed=i, subject="S1", action=f"a{i}") for i in range(4)]
    val = [make_sequence(40, seed=9, subject="S8", action="v")]
    return train, val


def _model(**changes):
    from ehfusion.models import ModelConfig, build_model

    torch.manual_seed(0)
    return build_model(ModelConfig(**(TINY | changes)))


def worker(mode: str, out: Path) -> None:
    """One torchrun process: train for two epochs, write weights and losses to ``out/rank<r>.*``."""
    from ehfusion import distributed
    from ehfusion.skeleton import H36M_17

    torch.set_num_threads(1)
    context = init_distributed(device="cpu")
    assert context.enabled and context.backend == "gloo" and context.world_size == 2
    train, val = _data()
    losses = []
    if mode == "trainer":
        from ehfusion.training import TrainConfig, Trainer

        model = _model(fusion="heterogeneous", branches=("unfused",))  # stage 1: DDP finds no unused parameter
        config = TrainConfig(epochs=3, batch_size=32, lr=3e-3, device="cpu", seed=0, flip_augment=True)
        trainer = Trainer(model, config, train, val, skeleton=H36M_17, checkpoint_dir=out / "ckpt",
                          name="tiny_best_epoch.bin", progress=False, distributed=context)
        trainer.fit()
        losses = [h["train_unfused"] for h in trainer.history]
        extra = {"windows_per_epoch": trainer.batcher.windows_per_epoch,
                 "val": [h.get("val_p1_unfused") for h in trainer.history]}
    else:
        from ehfusion.data.batching import WindowBatcher
        from ehfusion.metrics import mpjpe_loss

        model = _model(fusion="none")
        net = distributed.wrap_model(model, context)
        batcher = WindowBatcher(train, model.receptive_field, 32, skeleton=H36M_17, seed=0, rank=context.rank,
                                world_size=context.world_size)
        optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
        for epoch in range(3):
            batcher.set_epoch(epoch)
            total, seen = 0.0, 0
            for batch in batcher:
                loss = sum(mpjpe_loss(v, batch.target) for v in net(batch.window, batch.camera).values())
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total, seen = total + float(loss) * len(batch), seen + len(batch)
            losses.append(distributed.reduce_mean({"loss": total / seen}, context, weight=seen)["loss"])
        distributed.synchronise_buffers(net, context)
        extra = {"windows_per_epoch": batcher.windows_per_epoch,
                 "broadcast": distributed.broadcast_object({"from": context.rank}, context)}
    torch.save(unwrap_model(model).state_dict(), out / f"rank{context.rank}.pt")
    (out / f"rank{context.rank}.json").write_text(json.dumps({"losses": losses, **extra}))
    distributed.barrier(context)
    distributed.cleanup(context)


# ---------------------------------------------------------------------------------------------------------- launcher
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(mode: str, out: Path) -> list[dict]:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={_free_port()}", str(Path(__file__)), mode, str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(filter(None, [
        str(HERE.parent), os.environ.get("PYTHONPATH", "")])))
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=HERE.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def _same_weights(out: Path) -> None:
    a, b = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs between the ranks"


@pytest.mark.slow
def test_two_processes_with_ddp_helpers_stay_identical_and_learn(tmp_path):
    reports = _torchrun("loop", tmp_path)
    _same_weights(tmp_path)
    losses = reports[0]["losses"]
    assert reports[1]["losses"] == pytest.approx(losses)              # the reduced loss is the same on both ranks
    assert losses[-1] < losses[0]
    windows = sum(60 + 4 * i for i in range(4))
    assert reports[0]["windows_per_epoch"] == reports[1]["windows_per_epoch"] == windows // 2   # sharded
    assert reports[0]["broadcast"] == reports[1]["broadcast"] == {"from": 0}


@pytest.mark.slow
def test_trainer_runs_data_parallel_and_writes_checkpoints_once(tmp_path):
    from ehfusion.training import Trainer

    if "distributed" not in inspect.signature(Trainer).parameters:
        pytest.skip("the Trainer has no distributed option")
    reports = _torchrun("trainer", tmp_path)
    _same_weights(tmp_path)
    assert reports[0]["losses"] == pytest.approx(reports[1]["losses"])
    assert reports[0]["losses"][-1] < reports[0]["losses"][0]
    assert reports[0]["val"] == reports[1]["val"]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["tiny_best_epoch.bin", "tiny_last_epoch.bin"]


@pytest.mark.slow
def test_the_command_line_trains_data_parallel_under_torchrun(tmp_path):
    tiny = ("-k gt -a walk -str S1,S8 -ste S9 --val-subjects S8 -e 2 -ch 8 -lfd 8 -hid 16 --angle-channels 4 "
            "--angle-features 4 --camera-features 4 -b 256 --no-progress --device cpu").split()
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={_free_port()}", "-m", "ehfusion.run_onestage", *tiny, "-c", str(tmp_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=HERE.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "data parallel: 2 processes (gloo)" in out and "effective batch 512" in out
    assert out.count("Test evaluation of the best epoch") == 1          # rank 0 alone evaluates and prints
    assert out.count("data parallel:") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt_one-stage_best_epoch.bin", "gt_one-stage_last_epoch.bin"]
    meta = torch.load(tmp_path / "gt_one-stage_last_epoch.bin", weights_only=True)
    assert meta["epoch"] == 2 and len(meta["history"]) == 2


# ----------------------------------------------------------------------------------------------------- single process
def test_single_process_context_without_torchrun():
    assert environment_ranks({}) == (0, 1, 0)
    assert environment_ranks({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (3, 4, 1)
    with pytest.raises(ValueError, match="inconsistent"):
        environment_ranks({"RANK": "4", "WORLD_SIZE": "4"})
    context = init_distributed(device="cpu", env={})
    assert not context.enabled and context.is_main and context.device == torch.device("cpu")
    with pytest.raises(ValueError, match="MASTER_ADDR"):
        init_distributed(device="cpu", env={"RANK": "0", "WORLD_SIZE": "2"})
    model = _model(fusion="none")
    assert wrap_model(model, context) is model and unwrap_model(model) is model
    assert reduce_mean({"a": 2.0}, SINGLE_PROCESS, weight=5) == {"a": 2.0}
    assert broadcast_object([1, 2], DistributedContext()) == [1, 2]


if __name__ == "__main__":  # started by torchrun from the tests above
    worker(sys.argv[1], Path(sys.argv[2]))
