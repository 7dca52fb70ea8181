"""`tcvads pretrain-clip`: a small CLIP trained from scratch on the synthetic benchmark's captions.

The fine stage (paper §IV.B) stands on a frozen, pretrained CLIP. No CLIP weights can be
downloaded where this project is built, and a randomly initialised CLIP gives the fine stage
nothing to stand on, so this command makes a stand-in the way CLIP itself was made, at toy scale:

1. a synthetic benchmark (`tcvads synth`, its own seed and cameras; or ``--benchmark DIR``, an
   existing one) whose ``captions.jsonl`` says what every snippet shows (docs/synthetic.md);
2. (frame, caption) pairs from its **train** split only: each snippet's first frame, decoded
   from the video file at the CLIP's input size exactly as the fine stage reads it
   (`data.sample_snippet_frames`), with its caption; abnormal snippets are drawn as often as
   normal ones (they are a minority of the frames);
3. an open_clip model built from an ordinary ``open_clip_config.json``
   (``config/train/clip-standin`` by default), trained with open_clip's own contrastive loss
   (`open_clip.loss.ClipLoss`, symmetric InfoNCE with the learned logit scale), AdamW, cosine
   schedule with warm-up, seeded;
4. saved as an ordinary open_clip folder: ``open_clip_config.json`` +
   ``open_clip_model.safetensors``. The fine stage loads it like downloaded weights
   (``fine.model.clip_model=local-dir:OUT fine.model.checkpoint=OUT/open_clip_model.safetensors``)
   and freezes it; nothing downstream knows the difference;
5. a zero-shot check on the benchmark's **test** split: each snippet's first frame against the
   prompts "a photo of {class}" for the XD-Violence classes (CLIP's own protocol), written to
   ``standin.json`` (accuracy, balanced accuracy, per-class recall, training time) and a
   confusion matrix ``zero_shot_confusion.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tcvads_ros.config_files import config_file
from tcvads_ros.data import annotations as ann
from tcvads_ros.data.synthetic import CAPTIONS_FILE, SynthConfig
from tcvads_ros.errors import ConfigError, DataError

MODEL_CONFIG = "open_clip_config.json"
WEIGHTS = "open_clip_model.safetensors"  # open_clip's preferred name in a local-dir folder
REPORT = "standin.json"
PROMPT = "a photo of {}"  # CLIP's zero-shot prompt
# The benchmark the stand-in learns from when none is given: its own seed (the fine stage's
# benchmarks use others), more cameras than the default so it meets many backgrounds, and more
# abnormal videos (anomalies cover a minority of an abnormal video's frames).
DEFAULT_SYNTH = SynthConfig(videos=240, seed=7, width=128, height=96, frames=192, fps=24.0,
                            abnormal_share=0.7, test_share=0.15, cameras=16)


@dataclass
class PretrainConfig:
    steps: int = 400
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
    from tcvads_ros.training import data

    prefix = "" if split == "test" else "train_"
    segments = ann.read_xd_multiclass(root / f"{prefix}annotations_multiclasses.txt")
    frames, texts, classes = [], [], []
    entries = ann.read_feature_list(root / f"{split}.csv")
    for entry in progress_bar(entries, desc=f"frames ({split})", show=progress, leave=False):
        name = Path(entry.path).stem
        shots = list(data.sample_snippet_frames(root / entry.path, size=(size, size)))
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


def prepare_benchmark(out_dir: Path, benchmark: Path | None, synth: SynthConfig, progress: bool) -> Path:
    """The benchmark folder: the given one, or `synth` generated into OUT_DIR/benchmark (kept and
    re-used when the same)."""
    if benchmark is not None:
        for needed in ("train.csv", "test.csv", CAPTIONS_FILE):
            if not (benchmark / needed).is_file():
                raise DataError(f"{benchmark / needed}: not found; --benchmark must be a `tcvads synth` folder")
        return benchmark
    from tcvads_ros.training.experiment import prepare_synthetic
    from tcvads_ros.training.train_config import DataConfig

    return prepare_synthetic(DataConfig(kind="synthetic", synth=synth), out_dir / "benchmark", progress)


# --------------------------------------------------------------------------- training


def build_model(model_dir: Path):
    """A randomly initialised open_clip model from the folder's open_clip_config.json."""
    import open_clip

    if not (model_dir / MODEL_CONFIG).is_file():
        raise ConfigError(f"{model_dir / MODEL_CONFIG}: not found (--model must be an open_clip config folder)")
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


def zero_shot(model, tokenizer, frames: np.ndarray, classes: list[str]) -> dict:
    """Top-1 of "a photo of {class}" prompts on each frame: accuracy, balanced, per class."""
    import torch
    import torch.nn.functional as F

    from tcvads_ros.models.mobilenet import FramePreprocess

    names = ann.XD_CLASSES
    pre = model.visual.preprocess_cfg
    preprocess = FramePreprocess(pre["mean"], pre["std"])
    with torch.no_grad():
        text = F.normalize(model.encode_text(tokenizer([PROMPT.format(n.lower()) for n in names])), dim=-1)
        feats = torch.cat([F.normalize(model.encode_image(preprocess(torch.from_numpy(frames[i:i + 256]))), dim=-1)
                           for i in range(0, len(frames), 256)])
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
             threads: int | None = None) -> dict:
    """Make the stand-in CLIP in `out_dir` (module docstring); returns the report."""
    import torch
    from safetensors.torch import save_file

    from tcvads_ros.training.run_folder import seed_everything

    cfg = cfg or PretrainConfig()
    model_dir = model_dir or config_file("train/clip-standin")
    if threads:
        torch.set_num_threads(threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    root = prepare_benchmark(out_dir, benchmark, synth, progress)
    seed_everything(cfg.seed)
    model, tokenizer = build_model(model_dir)
    size = model.visual.image_size
    size = size if isinstance(size, int) else size[0]
    frames, texts, classes = load_split(root, "train", size, read_captions(root), progress)
    test_frames, _, test_classes = load_split(root, "test", size, None, progress)
    prepared = time.perf_counter()
    history = train_clip(model, tokenizer, frames, texts, classes, cfg, progress)
    trained = time.perf_counter()
    result = zero_shot(model, tokenizer, test_frames, test_classes)
    shutil.copyfile(model_dir / MODEL_CONFIG, out_dir / MODEL_CONFIG)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / WEIGHTS))
    report = {
        "benchmark": str(root), "train_pairs": len(texts), "distinct_captions": len(set(texts)),
        "train_abnormal_pairs": int(sum(c != "Normal" for c in classes)),
        "config": asdict(cfg), "model_config": json.loads((model_dir / MODEL_CONFIG).read_text()),
        "threads": torch.get_num_threads(), "data_seconds": round(prepared - started, 1),
        "train_seconds": round(trained - prepared, 1), "loss_first": history[0], "loss_last": history[-1],
        "loss_last_50_mean": float(np.mean(history[-50:])), "zero_shot": result,
    }
    (out_dir / REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot_confusion(result, out_dir / "zero_shot_confusion.png")
    return report


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
                        "trains, its test split measures); default: generate one into OUT_DIR/benchmark")
    parser.add_argument("--videos", type=int, default=s.videos, help=f"generated benchmark: videos (default {s.videos})")
    parser.add_argument("--synth-seed", type=int, default=s.seed, help=f"generated benchmark: seed (default {s.seed})")
    parser.add_argument("--cameras", type=int, default=s.cameras, help=f"generated benchmark: cameras (default {s.cameras})")
    parser.add_argument("--model", type=Path, help="open_clip config folder (default config/train/clip-standin)")
    parser.add_argument("--steps", type=int, default=d.steps, help=f"training steps (default {d.steps})")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help=f"pairs per step (default {d.batch_size})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"AdamW learning rate (default {d.lr:g})")
    parser.add_argument("--seed", type=int, default=d.seed, help="training seed (default 0)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tcvads_ros.configuration import from_mapping

    synth = from_mapping(SynthConfig, {**asdict(DEFAULT_SYNTH), "videos": args.videos, "seed": args.synth_seed,
                                       "cameras": args.cameras})
    cfg = replace(PretrainConfig(), steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    cfg.__post_init__()
    report = pretrain(args.out_dir, benchmark=args.benchmark, synth=synth, model_dir=args.model, cfg=cfg,
                      progress=not args.no_progress, threads=args.threads)
    z = report["zero_shot"]
    print(f"stand-in CLIP written to {args.out_dir} ({report['train_pairs']} pairs, "
          f"{report['train_seconds']:.0f} s training on {report['threads']} thread(s))")
    print(f"zero-shot '{PROMPT}' on {z['frames']} held-out frames: accuracy {100 * z['accuracy']:.1f} %, "
          f"balanced {100 * z['balanced_accuracy']:.1f} % (chance {100 * z['chance']:.1f} %)")
    print("use it: tcvads train ... " + " ".join(fine_overrides(args.out_dir)))
    return 0
