#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Does the fine stage name anomalies? Its variants on held-out synthetic test videos.

    python -m benchmarks.fine_ablation --out runs/fine-ablation [--standin DIR] [--threads 2]

On the test split of ``config/train/synthetic.yaml``'s benchmark (or ``--config``), with the fine
stage trained on its train split (`tcvads train --stage fine`), for:

- (a) a randomly initialised frozen CLIP (the stand-in's architecture, no weights) + the full
  fine stage;
- (b) the stand-in CLIP (`tcvads pretrain-clip`, made on scenes of its own seed; by default the
  one the project ships, ``models/clip-standin``) zero-shot:
  "a photo of {class}" prompts against each snippet's image feature, no training at all;
- (c) the stand-in + the full TCVADS fine stage (learned context + label + retrieved captions);
- (d) paper Table VIII's variants of (c): the learnable prompt alone (a context per class, no
  label, no captions), the label alone (no context, no captions), no retrieved captions
  (context + label, CoOp), and the losses' ablation (no contrastive term, β = 0 in Exp. 19);
- (c') as (c) with a caption bank written in the benchmark's own words
  (``config/captions-synthetic.yaml``) instead of the default real-world one;
- paper Table VIII's other prompts (VadCLIP's, all with the class label and no retrieved
  captions): the hand-crafted prompt "a photo of a {class}" (frozen), and the learnable context
  with VadCLIP's average-frame or anomaly-focus visual prompt (Eq. 6-7);
- (e) as (c) with the text branch of Fig. 3 (every snippet's captions through an Enhanced RWKV,
  the m × m alignment; ``fine.model.text_temporal``);
- (f) paper Table VII's other temporal models in place of the Enhanced RWKV: RWKV with
  ChannelMix, VadCLIP's LGT-Adapter (attention window 8), none.

``benchmarks/paper_ablations.py`` runs Tables VII and VIII and the text-branch comparison from
these variants over several seeds.

Measured: frame-level AP and AUC of the anomaly score 1 − P(Normal) (`metrics.coarse_metrics`),
XD-style mAP@IoU 0.1-0.5 and their mean (`training.metrics.detection_map`, VadCLIP's
protocol) and category accuracy on the abnormal test videos: the top-1 of the video-level class
scores (`metrics.video_class_scores`) among the anomaly classes is one of the video's kinds
(the fine stage runs on what the coarse stage flagged, so it names an anomaly), and the same
with the Normal class competing. Writes ``OUT/results.json``, ``OUT/table.md`` and
``OUT/fine_ablation.png``; trained runs in ``OUT/<variant>`` are re-used when run again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from tcvads_ros.config_files import config_file
from tcvads_ros.data import annotations as ann
from tcvads_ros.runtime.bundle import sha256
from tcvads_ros.training import standin_clip

FULL = ["fine.model.use_label=true", "fine.model.use_captions=true", "fine.model.class_ctx=false"]
# name -> (row label, overrides on top of the stand-in's, or None for a random CLIP)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "a_random_clip": ("(a) random frozen CLIP + full fine stage", []),
    "c_standin_full": ("(c) stand-in CLIP + full fine stage (triplet prompt)", FULL),
    "c_domain_captions": ("(c') as (c), caption bank in the benchmark's words (config/captions-synthetic.yaml)",
                          [*FULL, "fine.captions=CAPTIONS_SYNTHETIC"]),
    "d_prompt_only": ("(d) learnable prompt only (a context per class)",
                      ["fine.model.use_label=false", "fine.model.use_captions=false", "fine.model.class_ctx=true"]),
    "d_label_only": ("(d) class label only (no context, no captions)",
                     ["fine.model.n_ctx=0", "fine.model.use_captions=false"]),
    "d_no_captions": ("(d) no retrieved captions (context + label)", ["fine.model.use_captions=false"]),
    "d_no_contrastive": ("(d) no contrastive term (β = 0)", [*FULL, "fine.beta=0.0"]),
    "d_hand_crafted": ("(d) hand-crafted prompt \"a photo of a {class}\" (frozen; no captions)",
                       ["fine.model.n_ctx=4", "fine.model.learn_ctx=false", "fine.model.use_captions=false"]),
    "d_average_frame": ("(d) context + label + average-frame visual prompt (no captions)",
                        ["fine.model.use_captions=false", "fine.model.visual_prompt=average_frame"]),
    "d_anomaly_focus": ("(d) context + label + anomaly-focus visual prompt, VadCLIP Eq. 6-7 (no captions)",
                        ["fine.model.use_captions=false", "fine.model.visual_prompt=anomaly_focus"]),
    "e_text_rwkv": ("(e) as (c), text branch of Fig. 3 (per-snippet captions through an Enhanced RWKV)",
                    [*FULL, "fine.model.text_temporal=true"]),
    "f_rwkv_channelmix": ("(f) as (c), RWKV with ChannelMix instead of the Enhanced RWKV",
                          [*FULL, "fine.model.temporal=rwkv_channelmix"]),
    "f_lgt_adapter": ("(f) as (c), LGT-Adapter (window 8) instead of the Enhanced RWKV",
                      [*FULL, "fine.model.temporal=lgt_adapter", "fine.model.lgt_window=8"]),
    "f_no_temporal": ("(f) as (c), no temporal model", [*FULL, "fine.model.temporal=none"]),
}
ZERO_SHOT = ("b_zero_shot", "(b) stand-in CLIP zero-shot, \"a photo of {class}\"")


def category_accuracy(probs: list[np.ndarray], labels: list[str], class_names: list[str]) -> dict:
    """Top-1 of the video-level class scores on the abnormal videos (see the module docstring)."""
    from tcvads_ros.training import metrics

    hits, hits_all, count = 0, 0, 0
    per_kind: dict[str, list[int]] = {}  # main kind -> [named, videos]
    for p, label in zip(probs, labels):
        codes = [c for c in ann.xd_codes(label) if c != "A"] if label != "A" else []
        if not codes:
            continue
        names = {ann.XD_CODES[c] for c in codes}
        scores = np.nan_to_num(metrics.video_class_scores(p), nan=-1.0)
        count += 1
        named = class_names[1 + int(np.argmax(scores[1:]))] in names
        hits += named
        hits_all += class_names[int(np.argmax(scores))] in names
        kind = per_kind.setdefault(ann.XD_CODES[codes[0]], [0, 0])
        kind[0] += named
        kind[1] += 1
    return {"abnormal_videos": count, "accuracy": 100.0 * hits / max(count, 1),
            "accuracy_with_normal": 100.0 * hits_all / max(count, 1),
            "named_per_kind": {k: f"{v[0]}/{v[1]}" for k, v in sorted(per_kind.items())}}


def variant_overrides(name: str, standin: Path, base: list[str]) -> list[str]:
    """The training overrides of variant ``name`` on top of ``base`` (cache, device, user's)."""
    _, extra = VARIANTS[name]
    extra = [o.replace("CAPTIONS_SYNTHETIC", str(config_file("captions-synthetic.yaml"))) for o in extra]
    if name == "a_random_clip":
        return base + [f"fine.model.clip_model=local-dir:{config_file('train/clip-standin').resolve()}",
                       "fine.model.checkpoint=null"]
    return base + standin_clip.fine_overrides(standin) + extra


def train_variant(out: Path, config: Path, overrides: list[str], progress: bool) -> Path:
    from tcvads_ros.training import train as trainer

    if (out / "fine.safetensors").is_file():
        return out
    parser = argparse.ArgumentParser()
    trainer.configure_parser(parser)
    argv = ["--config", str(config), "--out", str(out), "--stage", "fine", *overrides]
    if not progress:
        argv.append("--no-progress")
    trainer.train(parser.parse_args(argv))
    return out


def evaluate_variant(run: Path, config: Path, overrides: list[str], progress: bool) -> dict:
    import torch

    from tcvads_ros.training import experiment, fine_stage
    from tcvads_ros.training.run_folder import RunFolder
    from tcvads_ros.training.train_config import load_config

    cfg = load_config(config, overrides)
    device = torch.device("cpu")
    lists = experiment.source_lists(cfg.data, cfg.data.cache_dir, progress)
    model = RunFolder(run, writable=False).load_stage("fine").to(device)
    split = fine_stage.fine_data(cfg, model, lists, cfg.data.cache_dir, device, progress)
    truth = experiment.test_truth(split, lists, cfg.data.dataset)
    probs, _ = fine_stage.predict(model, split.test, device, model.cfg.top_m, progress)
    return summary(probs, truth, split, model.class_names)


def summary(probs, truth, split, class_names) -> dict:
    from tcvads_ros.training import metrics

    result = metrics.detection_map(probs, truth.segments, truth.labels, class_names)
    labels = [e.label for e in split.test.entries]
    normal = class_names.index("Normal") if "Normal" in class_names else 0
    coarse = metrics.coarse_metrics([1.0 - p[:, normal] for p in probs], truth.frame_gt, truth.abnormal)
    return {"AP": coarse["AP"], "AUC": coarse["AUC"],
            **{k: result[k] for k in (*[f"mAP@{t}" for t in metrics.IOU_THRESHOLDS], "mAP_avg")},
            **category_accuracy(probs, labels, class_names)}


def zero_shot(standin: Path, config: Path, overrides: list[str], progress: bool) -> dict:
    """(b): per snippet softmax over classes of the stand-in's own scaled cosine similarity."""
    import torch
    import torch.nn.functional as F

    from tcvads_ros.training import experiment, feature_datasets, fine_stage, metrics
    from tcvads_ros.training.train_config import load_config

    cfg = load_config(config, overrides)
    device = torch.device("cpu")
    lists = experiment.source_lists(cfg.data, cfg.data.cache_dir, progress)
    model, _ = fine_stage.build_fine(cfg)
    split = fine_stage.fine_data(cfg, model, lists, cfg.data.cache_dir, device, progress)
    truth = experiment.test_truth(split, lists, cfg.data.dataset)
    prompts = [standin_clip.PROMPT.format(n.lower()) for n in model.class_names]
    with torch.no_grad():
        text = F.normalize(model.clip.encode_text(model.tokenizer(prompts)), dim=-1)
        scale = float(model.clip.logit_scale.exp())
    probs = []
    for entry in split.test.entries:
        feats = torch.from_numpy(feature_datasets.load_features(entry.path)).float()
        p = (scale * F.normalize(feats, dim=-1) @ text.t()).softmax(-1).numpy()
        probs.append(metrics.snippets_to_frames(p))
    return summary(probs, truth, split, model.class_names)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["mAP_avg"] for r in rows], 0.4, label="mAP AVG (IoU 0.1-0.5)")
    ax.bar(x + 0.2, [r["accuracy"] for r in rows], 0.4, label="category accuracy (abnormal videos)")
    ax.set_xticks(x, [r["variant"].split("_", 1)[0] + " " + r["variant"].split("_", 1)[1].replace("_", " ")
                      for r in rows], rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title("fine stage on held-out synthetic test videos", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(rows: list[dict]) -> str:
    head = ("| variant | mAP@0.1 | mAP@0.2 | mAP@0.3 | mAP@0.4 | mAP@0.5 | AVG | category acc. | "
            "acc. with Normal |\n|---|---|---|---|---|---|---|---|---|\n")
    lines = [f"| {r['label']} | " + " | ".join(f"{r[f'mAP@{t}']:.2f}" for t in (0.1, 0.2, 0.3, 0.4, 0.5))
             + f" | **{r['mAP_avg']:.2f}** | {r['accuracy']:.1f} % | {r['accuracy_with_normal']:.1f} % |"
             for r in rows]
    return head + "\n".join(lines) + "\n"



def prepare(args: argparse.Namespace) -> tuple[Path, Path, list[str]]:
    """What every ablation command sets up first (this one and paper_ablations): torch's threads,
    the output folder, the training config (default config/train/synthetic.yaml), the stand-in
    CLIP (made where missing) and the overrides every run gets."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    config = args.config or config_file("train/synthetic.yaml")
    standin = args.standin or standin_clip.shipped_standin()
    if not (standin / standin_clip.WEIGHTS).is_file():
        standin_clip.pretrain(standin, progress=not args.no_progress, threads=args.threads)
    return config, standin, [f"data.cache_dir={(args.out / 'cache').resolve()}", "device=cpu", *args.overrides]

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="work folder (runs, cache, results)")
    parser.add_argument("--config", type=Path, default=None,
                        help="training config whose data and fine sections are used (default "
                             "config/train/synthetic.yaml)")
    parser.add_argument("--standin", type=Path, default=None,
                        help="a `tcvads pretrain-clip` folder (default: the shipped models/clip-standin)")
    parser.add_argument("--only", nargs="*", default=None, help="variants to run (default all)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="for every variant")
    args = parser.parse_args(argv)
    progress = not args.no_progress
    config, standin, base = prepare(args)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    standin_sha = sha256(standin / standin_clip.WEIGHTS)
    stale = [n for n, r in results.items() if n != "a_random_clip" and r.get("standin_sha256") != standin_sha]
    if stale:  # its trained runs would be re-used: one table, one stand-in
        parser.error(f"{results_path}: {', '.join(stale)} were measured on another stand-in CLIP than "
                     f"{standin}; give a new --out")
    chosen = args.only or [ZERO_SHOT[0], *VARIANTS]
    for name in chosen:
        started = time.perf_counter()
        if name == ZERO_SHOT[0]:
            label, row = ZERO_SHOT[1], zero_shot(standin, config, base + standin_clip.fine_overrides(standin),
                                                 progress)
        else:
            label = VARIANTS[name][0]
            overrides = variant_overrides(name, standin, base)
            run = train_variant(args.out / name, config, overrides, progress)
            row = evaluate_variant(run, config, overrides, progress)
        results[name] = {"variant": name, "label": label, **row, "seconds": round(time.perf_counter() - started),
                         "standin_sha256": standin_sha}
        print(json.dumps(results[name]), flush=True)
        results_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    order = [n for n in ("a_random_clip", ZERO_SHOT[0], *list(VARIANTS)[1:]) if n in results]
    rows = [results[n] for n in order]
    (args.out / "table.md").write_text(table(rows), encoding="utf-8")
    plot(rows, args.out / "fine_ablation.png")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
