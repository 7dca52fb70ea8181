# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads pretrain-backbone`: a stand-in for ImageNet pretraining, on unlabelled frames (no anomaly labels).

Real users start the coarse backbone from torchvision's ImageNet MobileNetV2
(``teacher.pretrained_backbone``, models/pretrained.py). No such weights can be downloaded
here, so for the synthetic benchmark we make one: a torchvision MobileNetV2 of the backbone's
width trained self-supervised (SimCLR, Chen et al. 2020: NT-Xent between two views) on the
training videos' snippet frames. The two views of a sample are two different frames of the same
snippet (a temporal positive), each with its own crop, flip and mild brightness/contrast change;
neither video labels nor anomaly annotations are read, and the test videos are not used. The
file written is a torchvision state dict in safetensors, exactly what an ImageNet checkpoint
would be, and the teacher reads it through the same loader.

``--distill-clip DIR`` replaces SimCLR by distillation from a stand-in CLIP (`tcvads
pretrain-clip`, e.g. the shipped ``models/clip-standin``): the backbone's pooled features,
through a linear head, regress the CLIP's normalised image embedding of the same frame
(1 − cosine). The frames are still unlabelled; what the backbone learns is what the CLIP learned
from captions.

    tcvads pretrain-backbone --config config/train/synthetic-mil.yaml --out runs/pretrain/backbone.safetensors
    tcvads pretrain-backbone --config config/train/synthetic-mil.yaml --out runs/pt-clip/backbone.safetensors \
        --distill-clip models/clip-standin
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from torch.optim.swa_utils import update_bn
from torchvision.models import mobilenet_v2

from tcvads_ros.errors import ConfigError
from tcvads_ros.models.mobilenet import FramePreprocess
from tcvads_ros.models.registry import model_config
from tcvads_ros.progress import progress_bar
from tcvads_ros.runtime.bundle import sha256
from tcvads_ros.training import experiment
from tcvads_ros.training.augment import AugmentConfig, augment_batch
from tcvads_ros.training.entry import script_main
from tcvads_ros.training.run_folder import seed_everything
from tcvads_ros.training.standin_clip import WEIGHTS, image_embeddings, load_standin
from tcvads_ros.training.train_config import load_config

# views differ by crop and flip; colour changes stay mild, because colour (fire, flashes,
# smoke) is what several anomalies are
VIEW = AugmentConfig(enabled=True, flip=0.5, brightness=0.15, contrast=0.15, crop=0.6)


@dataclass
class PretrainConfig:
    steps: int = 400
    batch_size: int = 64  # pairs per step
    lr: float = 2e-3
    weight_decay: float = 1e-4
    temperature: float = 0.2  # NT-Xent τ
    projection: int = 128  # width of the projection head (discarded after training)
    seed: int = 0


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner among the 2N−1 other views."""
    z = F.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    n = len(a)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(sim, target)


def snippet_frames(list_path: Path) -> np.ndarray:
    """All cached frames (S, K, H, W, 3) of the videos in a frames list, labels not read."""
    root = list_path.parent
    with open(list_path, newline="", encoding="utf-8") as f:
        rows = [row for row in csv.reader(f) if row and row[0] != "path"]
    arrays = [np.load(root / row[0] if not Path(row[0]).is_absolute() else row[0], allow_pickle=False)
              for row in rows]
    frames = np.concatenate(arrays)
    if frames.ndim != 5 or frames.shape[1] < 2:
        raise ConfigError("tcvads pretrain-backbone needs two or more cached frames per snippet "
                          "(data.frames_per_snippet >= 2)")
    return frames


def pretrain(frames: np.ndarray, width_mult: float, mean, std, cfg: PretrainConfig,
             progress: bool = True) -> tuple[nn.Module, list[float]]:
    """A torchvision MobileNetV2 trained with NT-Xent on (S, K, H, W, 3) snippet frames."""
    seed_everything(cfg.seed)
    model = mobilenet_v2(weights=None, width_mult=width_mult)
    head = nn.Sequential(nn.Linear(model.last_channel, 512), nn.ReLU(inplace=True),
                         nn.Linear(512, cfg.projection))

    def step(data, pooled, generator):
        s, k = data.shape[:2]
        idx = torch.randint(s, (cfg.batch_size,), generator=generator)
        first = torch.randint(k, (cfg.batch_size,), generator=generator)
        second = (first + torch.randint(1, k, (cfg.batch_size,), generator=generator)) % k
        views = [augment_batch(data[idx, which][:, None], VIEW, generator)[:, 0] for which in (first, second)]
        a, b = (head(pooled(v)) for v in views)
        return nt_xent(a, b, cfg.temperature)

    return _fit(model, head, frames, mean, std, cfg, step, "pretrain", progress)


def _fit(model: nn.Module, head: nn.Module, frames: np.ndarray, mean, std, cfg: PretrainConfig, step,
         desc: str, progress: bool) -> tuple[nn.Module, list[float]]:
    """The loop both objectives share: AdamW with a one-cycle schedule over backbone and head,
    `step(data, pooled, generator) -> loss` drawing its own batch, then "precise BN"."""
    params = list(model.features.parameters()) + list(head.parameters())
    optim = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optim, cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    preprocess = FramePreprocess(mean, std)
    generator = torch.Generator().manual_seed(cfg.seed)
    data = torch.from_numpy(frames)

    def pooled(batch: torch.Tensor) -> torch.Tensor:
        return model.features(preprocess(batch)).mean(dim=(2, 3))

    losses = []
    model.train()
    for _ in progress_bar(range(cfg.steps), desc=desc, show=progress):
        loss = step(data, pooled, generator)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        schedule.step()
        losses.append(float(loss.detach()))
    # "precise BN": running statistics of the final weights (models/pretrained.py reads them)
    with torch.no_grad():
        batches = (preprocess(data[i:i + 64, 0]) for i in range(0, len(data), 64))
        update_bn(batches, model.features)
    return model.eval(), losses


def clip_targets(frames: np.ndarray, clip: nn.Module) -> torch.Tensor:
    """A CLIP's normalised image embedding of every (S, K, H, W, 3) frame, (S, K, D)."""
    from tcvads_ros.runtime.frames import resize_rgb

    size = clip.visual.image_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    flat = frames.reshape(-1, *frames.shape[2:])
    return image_embeddings(clip, np.stack([resize_rgb(f, size) for f in flat])).reshape(*frames.shape[:2], -1)


def distill_clip(frames: np.ndarray, width_mult: float, mean, std, clip: nn.Module, cfg: PretrainConfig,
                 progress: bool = True) -> tuple[nn.Module, list[float]]:
    """A torchvision MobileNetV2 whose pooled features, through a linear head, regress the stand-in
    CLIP's image embedding of the same frame (cosine loss): the CLIP's image knowledge, which it
    learned from captions, moved into the backbone on unlabelled frames."""
    seed_everything(cfg.seed)
    targets = clip_targets(frames, clip)
    model = mobilenet_v2(weights=None, width_mult=width_mult)
    head = nn.Linear(model.last_channel, targets.shape[-1])

    def step(data, pooled, generator):
        s, k = data.shape[:2]
        idx = torch.randint(s, (cfg.batch_size,), generator=generator)
        which = torch.randint(k, (cfg.batch_size,), generator=generator)
        predicted = F.normalize(head(pooled(data[idx, which])), dim=-1)
        return 1 - (predicted * targets[idx, which]).sum(-1).mean()

    return _fit(model, head, frames, mean, std, cfg, step, "distil CLIP", progress)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True,
                        help="training config: its data and teacher.model.backbone (width, input size)")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write (.safetensors)")
    parser.add_argument("--cache", type=Path, help="data cache (default: data.cache_dir, else OUT's folder/cache)")
    parser.add_argument("--steps", type=int, default=PretrainConfig.steps)
    parser.add_argument("--batch-size", type=int, default=PretrainConfig.batch_size)
    parser.add_argument("--seed", type=int, default=PretrainConfig.seed)
    parser.add_argument("--distill-clip", type=Path, default=None, metavar="DIR",
                        help="instead of SimCLR, regress the image embedding of this stand-in CLIP "
                             "folder (tcvads pretrain-clip; e.g. models/clip-standin)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")


def run(args: argparse.Namespace) -> int:
    if args.out.suffix != ".safetensors":
        raise ConfigError(f"--out {args.out}: the checkpoint is written as .safetensors")
    if args.steps < 1 or args.batch_size < 2:
        raise ConfigError("--steps must be >= 1 and --batch-size >= 2")
    # a bad stand-in folder is refused before the frames are cached
    clip = load_standin(args.distill_clip) if args.distill_clip is not None else None
    train_cfg = load_config(args.config, args.overrides)
    if train_cfg.data.kind == "features":
        raise ConfigError(f"{args.config}: data.kind is 'features'; pretraining needs frames (videos, synthetic)")
    backbone = model_config("afed", train_cfg.teacher.model).backbone
    cache = args.cache or train_cfg.data.cache_dir or args.out.parent / "cache"
    progress = not args.no_progress
    lists = experiment.source_lists(train_cfg.data, cache, progress)
    per_snippet = max(train_cfg.data.frames_per_snippet, 2)
    train_list, _ = experiment.cached_frames(lists, cache, backbone.input_size, progress, per_snippet)
    cfg = PretrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    started = time.perf_counter()
    frames = snippet_frames(train_list)
    if clip is not None:
        model, losses = distill_clip(frames, backbone.width_mult, backbone.mean, backbone.std, clip, cfg, progress)
    else:
        model, losses = pretrain(frames, backbone.width_mult, backbone.mean, backbone.std, cfg, progress)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(args.out))
    os.chmod(args.out, 0o644)  # (safetensors writes 0600) readable where it is installed
    # the recipe as given (paths as typed, so a shipped checkpoint's report names no machine's folders)
    report = {"objective": "distill-clip" if args.distill_clip else "simclr",
              "clip": args.distill_clip.as_posix() if args.distill_clip else None,
              "clip_sha256": sha256(args.distill_clip / WEIGHTS) if args.distill_clip else None,
              "training_config": args.config.as_posix(), "overrides": list(args.overrides),
              "config": asdict(cfg), "width_mult": backbone.width_mult, "input_size": backbone.input_size,
              "weights_sha256": sha256(args.out), "snippets": len(frames), "threads": torch.get_num_threads(),
              "loss_first": float(np.mean(losses[:20])),
              "loss_last": float(np.mean(losses[-20:])), "seconds": round(time.perf_counter() - started, 1)}
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    loss = "1 - cosine" if args.distill_clip else "NT-Xent"
    print(f"wrote {args.out} ({loss} {report['loss_first']:.3f} -> {report['loss_last']:.3f}, "
          f"{report['seconds']} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return script_main("tcvads pretrain-backbone", __doc__, configure_parser, run, argv)
