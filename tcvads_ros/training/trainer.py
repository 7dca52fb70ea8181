# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""One epoch loop for every stage: AdamW, cosine learning rate, progress bar, per-epoch metrics,
a checkpoint of the last epoch for `--resume`, DistributedDataParallel under torchrun.

A stage supplies `loss_fn(model, batch) -> dict of scalar tensors` (key ``loss`` is optimised,
the others are logged) and optionally `validate(model) -> dict of floats`, called after each
epoch on rank 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from tcvads_ros.progress import progress_bar
from tcvads_ros.training.run_folder import RunFolder
from tcvads_ros.training.train_config import OptimConfig

T = TypeVar("T")


@dataclass
class Context:
    """What every stage needs to know about the process it runs in."""

    run: RunFolder
    device: torch.device
    seed: int
    rank: int = 0
    world_size: int = 1
    resume: bool = False
    progress: bool = True
    num_workers: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def main_first(ctx: Context, work: Callable[[], T]) -> T:
    """Run `work` on rank 0 first (it writes caches), then on the other ranks (they find them)."""
    if ctx.world_size == 1:
        return work()
    import torch.distributed as dist

    if ctx.is_main:
        result = work()
        dist.barrier()
        return result
    dist.barrier()
    return work()


def make_loader(dataset: Dataset, batch_size: int, ctx: Context, shuffle: bool, collate: Callable,
                epoch_seed: int = 0) -> DataLoader:
    """A loader whose order depends only on (seed, epoch): resumption replays the same batches.

    A dataset with ``set_epoch`` (temporal jitter, `feature_datasets.FeatureTrainDataset`) gets the epoch too.
    """
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch_seed)
    if ctx.world_size > 1:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=ctx.seed)
        sampler.set_epoch(epoch_seed)
    elif shuffle:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(ctx.seed * 100_003 + epoch_seed))
    else:
        sampler = None
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate,
                      num_workers=ctx.num_workers)


def cosine_lr(base: float, epoch: int, epochs: int) -> float:
    return base * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def best_of(history: list[dict]) -> dict:
    """The ``best_epoch`` / ``best_metric`` / ``best_value`` record `fit` appends when it kept the best
    weights (`run_folder.StageInfo`)."""
    return {k: v for k, v in history[-1].items() if k.startswith("best")} if history else {}


def fit(
    stage: str,
    model: torch.nn.Module,
    dataset: Dataset,
    collate: Callable,
    loss_fn: Callable[[torch.nn.Module, dict], dict[str, torch.Tensor]],
    optim: OptimConfig,
    ctx: Context,
    validate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    checkpoint: bool = True,
    monitor: str | None = None,
) -> list[dict[str, float]]:
    """Train `model` for `optim.epochs` epochs; returns the metrics of each epoch run here.

    With `checkpoint`, the model and optimiser state of the last epoch are saved as
    ``<stage>.last.safetensors`` and, with `ctx.resume`, training continues from there.
    With `monitor` (a key of `validate`'s result, higher is better) and ``optim.keep_best``,
    the model ends with the weights of its best validation epoch (kept in memory and, with
    `checkpoint`, as ``<stage>.best.safetensors`` so that a resumed run knows them too).
    """
    model.to(ctx.device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)
    start = 0
    best: tuple[float, int, dict] | None = None
    if checkpoint and ctx.resume:
        info = ctx.run.load_training_state(stage, model, optimizer)
        start = info["epoch"] if info else 0
        if info and info.get("best_epoch"):
            best = (info["best_value"], info["best_epoch"], ctx.run.load_model_state(f"{stage}.best"))
    trained = model
    if ctx.world_size > 1:
        trained = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    history = []
    for epoch in range(start, optim.epochs):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(optim.lr, epoch, optim.epochs)
        loader = make_loader(dataset, optim.batch_size, ctx, shuffle=True, collate=collate, epoch_seed=epoch)
        trained.train()
        sums: dict[str, float] = {}
        batches = 0
        bar = progress_bar(loader, desc=f"{stage} {epoch + 1}/{optim.epochs}", leave=False,
                           show=ctx.progress and ctx.is_main)
        for batch in bar:
            batch = {k: v.to(ctx.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            out = loss_fn(trained, batch)
            optimizer.zero_grad(set_to_none=True)
            out["loss"].backward()
            if optim.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, optim.grad_clip)
            optimizer.step()
            for key, value in out.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
            batches += 1
            bar.set_postfix(loss=f"{sums['loss'] / batches:.4f}")
        metrics = {f"train_{k}": v / max(batches, 1) for k, v in sums.items()}
        metrics["lr"] = optimizer.param_groups[0]["lr"]
        if validate is not None and ctx.is_main:
            model.eval()
            with torch.no_grad():
                metrics.update(validate(model))
        history.append(metrics)
        value = metrics.get(monitor, float("nan")) if monitor and optim.keep_best else float("nan")
        if value == value and (best is None or value > best[0]):  # NaN never counts as best
            best = (value, epoch + 1, {k: v.detach().clone() for k, v in model.state_dict().items()})
            if checkpoint:
                ctx.run.save_state(f"{stage}.best", best[2])
        if checkpoint:
            ctx.run.log_metrics(stage, epoch + 1, metrics)
            record = {"best_epoch": best[1], "best_value": best[0]} if best else {}
            ctx.run.save_training_state(stage, epoch + 1, model, optimizer, record)
    if best is not None:
        model.load_state_dict(best[2])
        history.append({"best_epoch": best[1], "best_metric": monitor, "best_value": best[0]})
    model.eval()
    return history
