# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads pretrain-clip`: a small CLIP trained from scratch on synthetic scenes and their captions.

The fine stage (paper §IV.B) stands on a frozen, pretrained CLIP. No CLIP weights can be
downloaded where this project is built, and a randomly initialised CLIP gives the fine stage
nothing to stand on, so this command makes a stand-in the way CLIP itself was made, at toy scale:

1. (frame, caption) pairs of synthetic scenes (`tcvads synth`'s generator and its captions,
   docs/synthetic.md): by default drawn in memory from many short videos of many cameras of a
   seed of their own (``DEFAULT_SYNTH``; only each snippet's first frame is drawn, pixel for pixel
   the frame `tcvads synth` renders before encoding the video, resized with the detector's own
   resize), or from an
   existing benchmark folder (``--benchmark DIR``: its ``captions.jsonl`` and the videos'
   frames decoded as the fine stage reads them). Variety is what a small CLIP needs to recognise
   a riot on a camera it has not seen: trained on 240 videos of 16 cameras it named riot frames
   of a new camera "Shooting"; on 1200 videos of 64 cameras, "Riot" (docs/results.md);
2. only the **train** split's pairs train; abnormal snippets are drawn as often as normal ones
   (they are a minority of the frames);
3. an open_clip model built from an ordinary ``open_clip_config.json``
   (``config/train/clip-standin`` by default), trained with open_clip's own contrastive loss
   (`open_clip.loss.ClipLoss`, symmetric InfoNCE with the learned logit scale), AdamW, cosine
   schedule with warm-up, seeded;
4. saved as an ordinary open_clip folder: ``open_clip_config.json`` +
   ``open_clip_model.safetensors`` (float16, as CLIP's released weights; everything measured
   below is measured on the rounded weights). The fine stage loads it like downloaded weights
   (``fine.model.clip_model=local-dir:OUT fine.model.checkpoint=OUT/open_clip_model.safetensors``)
   and freezes it; nothing downstream knows the difference;
5. a zero-shot check on the **test** split: each snippet's first frame against the prompts
   "a photo of {class}" for the XD-Violence classes (CLIP's own protocol), written to
   ``standin.json`` (accuracy, balanced accuracy, per-class recall, training time, the recipe
   and the weights' sha256) and a confusion matrix ``zero_shot_confusion.png``.

The project ships the stand-in this command makes with its defaults in ``models/clip-standin``
(`shipped_standin`); ``tcvads pretrain-clip models/clip-standin --overwrite`` remakes it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tcvads_ros.config_files import config_file, shipped_dir
from tcvads_ros.data import annotations as ann
from tcvads_ros.data.synthetic import (
    CAPTIONS_FILE,
    GENERATOR_VERSION,
    SynthConfig,
    VideoPlan,
    plan_benchmark,
    read_meta,
    render_frames,
    snippet_captions,
)
from tcvads_ros.errors import ConfigError, DataError
from tcvads_ros.runtime.bundle import sha256

MODEL_CONFIG = "open_clip_config.json"
WEIGHTS = "open_clip_model.safetensors"  # open_clip's preferred name in a local-dir folder
REPORT = "standin.json"
PROMPT = "a photo of {}"  # CLIP's zero-shot prompt
# The scenes the stand-in learns from when no benchmark is given: a seed of their own (the fine
# stage's benchmarks use others), many cameras so that it meets many backgrounds, and more
# abnormal videos (anomalies cover a minority of an abnormal video's frames). Drawn in memory.
DEFAULT_SYNTH = SynthConfig(videos=1200, seed=7, width=128, height=96, frames=192, fps=24.0,
                            abnormal_share=0.7, test_share=0.1, cameras=64)


@dataclass
class PretrainConfig:
    steps: int = 800
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup: int = 50
    abnormal_share: float = 0.5  # of each batch, drawn from snippets showing an anomaly
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2 or self.lr <= 0 or not 0 <= self.abnormal_share <= 1:
            raise ConfigError("pretrain-clip: need --steps >= 1, --batch-size >= 2, --lr > 0 and an "
                              "abnormal share of each batch in [0, 1]")


# --------------------------------------------------------------------------- data


def read_captions(root: Path) -> dict[tuple[str, int], str]:
    """(video name, snippet) -> caption, from the benchmark's captions.jsonl."""
    path = root / CAPTIONS_FILE
    if not path.is_file():
        raise DataError(f"{path}: not found; the benchmark must come from a `tcvads synth` that writes "
                        "captions (regenerate it)")
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
            out[row["video"], int(row["snippet"])] = str(row["caption"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{number}: not a caption record ({exc})") from exc
    return out


def snippet_classes(segments: list[ann.Segment], count: int) -> list[str]:
    """XD class name of each snippet's first frame ("Normal" outside every segment)."""
    names = []
    for s in range(count):
        frame = s * ann.SNIPPET_FRAMES
        code = next((seg.label for seg in segments if seg.start <= frame < seg.end), "A")
        names.append(ann.XD_CODES[code])
    return names


def load_split(root: Path, split: str, size: int, captions: dict | None, progress: bool):
    """Snippet first frames (N, size, size, 3) uint8, their captions (or None) and class names."""
    from tcvads_ros.progress import progress_bar
    from tcvads_ros.training import frame_cache

    prefix = "" if split == "test" else "train_"
    segments = ann.read_xd_multiclass(root / f"{prefix}annotations_multiclasses.txt")
    frames, texts, classes = [], [], []
    entries = ann.read_feature_list(root / f"{split}.csv")
    for entry in progress_bar(entries, desc=f"frames ({split})", show=progress, leave=False):
        name = Path(entry.path).stem
        shots = list(frame_cache.sample_snippet_frames(root / entry.path, size=(size, size)))
        classes += snippet_classes(segments.get(name, []), len(shots))
        frames += shots
        if captions is not None:
            missing = [s for s in range(len(shots)) if (name, s) not in captions]
            if missing:
                raise DataError(f"{root / CAPTIONS_FILE}: no caption for {name} snippet {missing[0]}")
            texts += [captions[name, s] for s in range(len(shots))]
    if not frames:
        raise DataError(f"{root / (split + '.csv')}: no videos listed")
    return np.stack(frames), texts, classes


def check_benchmark(benchmark: Path) -> Path:
    """An existing `tcvads synth` folder with its lists and captions, or a DataError."""
    for needed in ("train.csv", "test.csv", CAPTIONS_FILE):
        if not (benchmark / needed).is_file():
            raise DataError(f"{benchmark / needed}: not found; --benchmark must be a `tcvads synth` folder")
    return benchmark


def _render_pairs(plan: VideoPlan, synth: SynthConfig, size: int):
    """One video's snippet first frames at `size`, their captions and class names."""
    from tcvads_ros.runtime.frames import resize_rgb

    first = range(0, synth.frames - ann.SNIPPET_FRAMES + 1, ann.SNIPPET_FRAMES)
    frames = [resize_rgb(f, (size, size)) for f in render_frames(plan, synth, only=set(first))]
    return np.stack(frames), snippet_captions(plan, synth), snippet_classes(list(plan.episodes), len(frames))


def render_split(synth: SynthConfig, split: str, size: int, workers: int, progress: bool):
    """Like `load_split`, drawn in memory: (N, size, size, 3) uint8 frames, captions, classes of
    the snippets of `synth`'s videos in `split` (no video files are written)."""
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial
    from multiprocessing import get_context

    from tcvads_ros.progress import progress_bar

    plans = [p for p in plan_benchmark(synth) if p.split == split]
    if not plans:
        raise ConfigError(f"pretrain-clip: the generated scenes have no {split} videos (videos, test_share)")
    workers = max(1, min(workers, len(plans) // 8))  # chunks of 8 videos; no idle processes
    draw = partial(_render_pairs, synth=synth, size=size)
    results = []
    # spawned workers: this process may hold torch's thread pools, which do not survive a fork
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else _Inline() as pool:
        for item in progress_bar(pool.map(draw, plans, chunksize=8), total=len(plans),
                                 desc=f"scenes ({split})", show=progress, leave=False):
            results.append(item)
    return (np.concatenate([r[0] for r in results]), [t for r in results for t in r[1]],
            [c for r in results for c in r[2]])


class _Inline:
    """`ProcessPoolExecutor`'s map in this process (one worker)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def map(self, fn, items, chunksize=1):
        return map(fn, items)


# --------------------------------------------------------------------------- training


def build_model(model_dir: Path):
    """A randomly initialised open_clip model from the folder's open_clip_config.json."""
    import open_clip

    if not (model_dir / MODEL_CONFIG).is_file():
        raise ConfigError(f"{model_dir / MODEL_CONFIG}: not found (--model must be an open_clip config folder)")
    if (model_dir / WEIGHTS).exists():  # open_clip would load them: training would not start from scratch
        raise ConfigError(f"{model_dir}: holds weights ({WEIGHTS}); --model must be an architecture folder "
                          "with only open_clip_config.json (e.g. config/train/clip-standin)")
    logging.disable(logging.WARNING)  # "no pretrained weights": random initialisation is the point here
    try:
        model = open_clip.create_model(f"local-dir:{model_dir}")
    finally:
        logging.disable(logging.NOTSET)
    return model, open_clip.get_tokenizer(f"local-dir:{model_dir}")


def train_clip(model, tokenizer, frames: np.ndarray, texts: list[str], classes: list[str],
               cfg: PretrainConfig, progress: bool) -> list[float]:
    """Contrastive training (open_clip.loss.ClipLoss); returns the loss of every step."""
    import torch
    from open_clip.loss import ClipLoss

    from tcvads_ros.models.mobilenet import FramePreprocess
    from tcvads_ros.progress import progress_bar

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    pre = model.visual.preprocess_cfg
    preprocess = FramePreprocess(pre["mean"], pre["std"])
    tokens = tokenizer(texts)
    abnormal = np.flatnonzero(np.asarray(classes) != "Normal")
    normal = np.flatnonzero(np.asarray(classes) == "Normal")
    n_abnormal = round(cfg.batch_size * cfg.abnormal_share) if len(abnormal) else 0
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                               {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optim, lambda step: min(1.0, (step + 1) / max(1, cfg.warmup))
                                                 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps)))
    loss_fn = ClipLoss()
    model.train()
    history = []
    for _ in progress_bar(range(cfg.steps), desc="pretrain-clip", show=progress):
        pick = np.concatenate([rng.choice(abnormal, n_abnormal),
                               rng.choice(normal if len(normal) else abnormal, cfg.batch_size - n_abnormal)])
        batch = torch.from_numpy(frames[pick])
        flip = torch.from_numpy(rng.random(len(pick)) < 0.5)  # mirror half the frames
        batch = torch.where(flip[:, None, None, None], batch.flip(2), batch)
        image_features, text_features, scale = model(preprocess(batch), tokens[pick])[:3]
        loss = loss_fn(image_features, text_features, scale)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        schedule.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))  # CLIP's clamp of the temperature
        history.append(loss.item())
    model.eval()
    return history


def image_embeddings(model, frames: np.ndarray):
    """The CLIP's normalised image embedding of (N, H, W, 3) uint8 frames at its input size, (N, D)."""
    import torch
    import torch.nn.functional as F

    from tcvads_ros.models.mobilenet import FramePreprocess

    pre = model.visual.preprocess_cfg
    preprocess = FramePreprocess(pre["mean"], pre["std"])
    with torch.no_grad():
        return torch.cat([F.normalize(model.encode_image(preprocess(torch.from_numpy(frames[i:i + 256]))), dim=-1)
                          for i in range(0, len(frames), 256)])


def zero_shot(model, tokenizer, frames: np.ndarray, classes: list[str]) -> dict:
    """Top-1 of "a photo of {class}" prompts on each frame: accuracy, balanced, per class."""
    import torch
    import torch.nn.functional as F

    names = ann.XD_CLASSES
    with torch.no_grad():
        text = F.normalize(model.encode_text(tokenizer([PROMPT.format(n.lower()) for n in names])), dim=-1)
    feats = image_embeddings(model, frames)
    predicted = (feats @ text.t()).argmax(1).numpy()
    truth = np.asarray([names.index(c) for c in classes])
    confusion = np.zeros((len(names), len(names)), int)
    np.add.at(confusion, (truth, predicted), 1)
    recall = {n: float(confusion[i, i] / confusion[i].sum()) for i, n in enumerate(names) if confusion[i].sum()}
    abnormal = truth != 0
    return {
        "prompt": PROMPT, "frames": int(len(truth)), "accuracy": float((predicted == truth).mean()),
        "balanced_accuracy": float(np.mean(list(recall.values()))),
        "abnormal_frames": int(abnormal.sum()),
        "abnormal_accuracy": float((predicted[abnormal] == truth[abnormal]).mean()) if abnormal.any() else None,
        "chance": 1.0 / len(names), "recall": recall, "classes": names, "confusion": confusion.tolist(),
    }


def plot_confusion(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = np.asarray(result["confusion"], float)
    share = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    names = result["classes"]
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            if confusion[i, j]:
                ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xlabel(f'zero-shot prediction ("{PROMPT}")')
    ax.set_ylabel("true class of the frame")
    ax.set_title(f"stand-in CLIP: accuracy {100 * result['accuracy']:.1f} %, "
                 f"balanced {100 * result['balanced_accuracy']:.1f} %", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pretrain(out_dir: Path, *, benchmark: Path | None = None, synth: SynthConfig = DEFAULT_SYNTH,
             model_dir: Path | None = None, cfg: PretrainConfig | None = None, progress: bool = True,
             threads: int | None = None, overwrite: bool = False) -> dict:
    """Make the stand-in CLIP in `out_dir` (module docstring); returns the report."""
    import torch
    from safetensors.torch import save_file

    from tcvads_ros.training.run_folder import seed_everything

    cfg = cfg or PretrainConfig()
    model_dir = model_dir or config_file("train/clip-standin")
    if (out_dir / WEIGHTS).exists() and not overwrite:
        raise ConfigError(f"{out_dir / WEIGHTS}: exists; pass --overwrite to replace the stand-in there")
    if benchmark is not None:
        check_benchmark(benchmark)
    if threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    seed_everything(cfg.seed)
    model, tokenizer = build_model(model_dir)
    size = model.visual.image_size
    size = size if isinstance(size, int) else size[0]
    if benchmark is not None:
        frames, texts, classes = load_split(benchmark, "train", size, read_captions(benchmark), progress)
        test_frames, _, test_classes = load_split(benchmark, "test", size, None, progress)
        meta = read_meta(benchmark) or {}
        source = {"benchmark": str(benchmark), "generator_version": meta.get("generator_version")}
    else:
        workers = threads or len(os.sched_getaffinity(0))  # the cores this process may use
        frames, texts, classes = render_split(synth, "train", size, workers, progress)
        test_frames, _, test_classes = render_split(synth, "test", size, workers, progress)
        source = {"synth": asdict(synth), "generator_version": GENERATOR_VERSION}
    prepared = time.perf_counter()
    history = train_clip(model, tokenizer, frames, texts, classes, cfg, progress)
    trained = time.perf_counter()
    with torch.no_grad():  # stored as float16: measure what is stored
        for value in model.state_dict().values():
            if value.is_floating_point():
                value.copy_(value.half())
    result = zero_shot(model, tokenizer, test_frames, test_classes)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).detach().contiguous() for k, v in model.state_dict().items()}
    partial = out_dir / (WEIGHTS + ".partial")
    save_file(state, str(partial))
    os.chmod(partial, 0o644)
    os.replace(partial, out_dir / WEIGHTS)  # a stopped run leaves the old weights, not half a file
    shutil.copyfile(model_dir / MODEL_CONFIG, out_dir / MODEL_CONFIG)
    report = {
        **source, "train_pairs": len(texts), "distinct_captions": len(set(texts)),
        "train_abnormal_pairs": int(sum(c != "Normal" for c in classes)),
        "config": asdict(cfg), "model_config": json.loads((model_dir / MODEL_CONFIG).read_text()),
        "weights_sha256": sha256(out_dir / WEIGHTS), "dtype": "float16",
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "data_seconds": round(prepared - started, 1), "train_seconds": round(trained - prepared, 1),
        "loss_first": history[0], "loss_last": history[-1],
        "loss_last_50_mean": float(np.mean(history[-50:])), "zero_shot": result,
    }
    (out_dir / REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot_confusion(result, out_dir / "zero_shot_confusion.png")
    return report


def load_standin(folder: Path):
    """A stand-in folder's open_clip model (its own weights), frozen, in eval mode."""
    from tcvads_ros.models.fine import FineConfig, create_clip

    if not (folder / WEIGHTS).is_file() or not (folder / MODEL_CONFIG).is_file():
        raise ConfigError(f"{folder}: not a stand-in CLIP folder (needs {MODEL_CONFIG} and {WEIGHTS}; "
                          f"make one with tcvads pretrain-clip {folder})")
    try:
        model = create_clip(FineConfig(clip_model=f"local-dir:{folder}", checkpoint=str(folder / WEIGHTS)))
    except ConfigError as exc:
        raise ConfigError(f"{folder}: cannot load the stand-in CLIP ({exc})") from exc
    return model.eval().requires_grad_(False)


def shipped_standin() -> Path:
    """The stand-in the project ships (``models/clip-standin``, made by this command's defaults)."""
    return shipped_dir("models/clip-standin")


def fine_overrides(folder: Path) -> list[str]:
    """The `tcvads train` overrides that put the stand-in in `folder` under the fine stage."""
    return [f"fine.model.clip_model=local-dir:{folder.resolve()}",
            f"fine.model.checkpoint={(folder / WEIGHTS).resolve()}"]


# --------------------------------------------------------------------------- command line


def configure_parser(parser: argparse.ArgumentParser) -> None:
    d, s = PretrainConfig(), DEFAULT_SYNTH
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path,
                        help="folder to write: open_clip_config.json, open_clip_model.safetensors, standin.json")
    parser.add_argument("--benchmark", type=Path, help="an existing `tcvads synth` folder (its train split "
                        "trains, its test split measures); default: scenes drawn in memory (below)")
    parser.add_argument("--videos", type=int, default=s.videos, help=f"drawn scenes: videos (default {s.videos})")
    parser.add_argument("--synth-seed", type=int, default=s.seed, help=f"drawn scenes: seed (default {s.seed})")
    parser.add_argument("--cameras", type=int, default=s.cameras, help=f"drawn scenes: cameras (default {s.cameras})")
    parser.add_argument("--model", type=Path, help="open_clip config folder (default config/train/clip-standin)")
    parser.add_argument("--steps", type=int, default=d.steps, help=f"training steps (default {d.steps})")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help=f"pairs per step (default {d.batch_size})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"AdamW learning rate (default {d.lr:g})")
    parser.add_argument("--seed", type=int, default=d.seed, help="training seed (default 0)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads and drawing processes (default: torch's; all cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace a stand-in already in OUT_DIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tcvads_ros.configuration import from_mapping

    synth = from_mapping(SynthConfig, {**asdict(DEFAULT_SYNTH), "videos": args.videos, "seed": args.synth_seed,
                                       "cameras": args.cameras})
    cfg = replace(PretrainConfig(), steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    cfg.__post_init__()
    report = pretrain(args.out_dir, benchmark=args.benchmark, synth=synth, model_dir=args.model, cfg=cfg,
                      progress=not args.no_progress, threads=args.threads, overwrite=args.overwrite)
    z = report["zero_shot"]
    print(f"stand-in CLIP written to {args.out_dir} ({report['train_pairs']} pairs, "
          f"{report['train_seconds']:.0f} s training on {report['threads']} thread(s))")
    print(f"zero-shot '{PROMPT}' on {z['frames']} held-out frames: accuracy {100 * z['accuracy']:.1f} %, "
          f"balanced {100 * z['balanced_accuracy']:.1f} % (chance {100 * z['chance']:.1f} %)")
    print("use it: tcvads train ... " + " ".join(fine_overrides(args.out_dir)))
    return 0
