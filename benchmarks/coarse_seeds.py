# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The coarse stage on the synthetic benchmark over several seeds, per anomaly kind, with a ceiling.

For each seed: the AFED teacher trained as the paper does (MIL on video labels, Exp. 10) from
the stand-in pretrained backbone (`tcvads pretrain-backbone`), the QACM student distilled from it
(Exp. 14) and the same student without distillation; then, on the test split, frame-level AP
and AUC overall and the AUC of each kind's frames against the normal frames. The ceiling is a
fully supervised per-frame classifier (logistic regression on the same backbone's features of
single frames, trained on the snippet-level annotations of the training videos): what single
frames through this backbone can show. Writes RESULTS/seeds.json and a per-kind plot.

    python -m benchmarks.coarse_seeds --pretrained runs/pretrain/backbone.safetensors \
        --out runs/coarse-seeds --seeds 0 1 2

Runs niced with one torch thread (the machine stays usable); each training is its own
`tcvads train` process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "train" / "synthetic-mil.yaml"
MODELS = ("teacher", "student", "student_nokd", "ceiling")


def train(out: Path, args: argparse.Namespace, seed: int, *extra: str) -> None:
    stage = extra[extra.index("--stage") + 1]
    if (out / f"{stage}.safetensors").is_file():
        return  # trained by an earlier call
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "tcvads_ros.cli", "train", "--config", str(args.config),
           "--out", str(out), "--no-progress", *extra, f"seed={seed}", f"data.cache_dir={args.cache}",
           f"teacher.pretrained_backbone={args.pretrained}", *args.overrides]
    subprocess.run(cmd, check=True, env=env)


def kind_aucs(frames: list[np.ndarray], truth) -> dict[str, float]:
    """AUC (%) of each kind's annotated frames against all normal frames of the test videos."""
    from sklearn.metrics import roc_auc_score

    scores = np.concatenate(frames)
    gt = np.concatenate(truth.frame_gt)
    starts = np.cumsum([0] + [len(f) for f in frames[:-1]])
    result = {"all": 100 * roc_auc_score(gt, scores)}
    kinds = sorted({label for labels in truth.labels for label in labels} - {"Normal"})
    for kind in kinds:
        mask = np.zeros(len(gt), dtype=bool)
        for i, (segments, labels) in enumerate(zip(truth.segments, truth.labels)):
            for (a, b), label in zip(segments, labels):
                if label == kind:
                    mask[starts[i] + a:starts[i] + min(b, len(frames[i]))] = True
        keep = mask | (gt == 0)
        result[kind] = 100 * roc_auc_score(mask[keep], scores[keep])
    return result


def evaluate(folder: Path, stage: str, cfg, lists, cache: Path) -> tuple[dict, object]:
    import torch

    from tcvads_ros.training import coarse, experiment, metrics
    from tcvads_ros.training.run_folder import RunFolder
    from tcvads_ros.training.stages import coarse_data

    model = RunFolder(folder, writable=False).load_stage(stage)
    split = coarse_data(cfg, lists, cache, model, False)
    truth = experiment.test_truth(split, lists, cfg.data.dataset)
    frames = [metrics.snippets_to_frames(p) for p in coarse.predict(model, split.test, torch.device("cpu"))]
    values = metrics.coarse_metrics(frames, truth.frame_gt, truth.abnormal)
    return {"AP": values["AP"], "AUC": values["AUC"], "kinds": kind_aucs(frames, truth)}, model


def ceiling(teacher, cfg, lists, cache: Path, seed: int) -> dict:
    """Logistic regression on the teacher's (frozen) backbone features of single frames, trained
    with snippet labels on the training videos (every cached frame of a snippet)."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score

    from tcvads_ros.training import coarse, experiment, metrics

    size = teacher.backbone.cfg.input_size
    train_list, test_list = experiment.cached_frames(lists, cache, size, False, cfg.data.frames_per_snippet)
    split = experiment.build_split(train_list, test_list, cfg.data, "frames", seed, lists.train_segments,
                                   snippet_labels=True)
    to_input = coarse.input_fn(teacher, torch.device("cpu"))
    teacher.eval()

    def encode(frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return teacher.backbone(to_input(torch.from_numpy(frames)[None])[0]).numpy()

    xs, ys = [], []
    for epoch in range(cfg.data.frames_per_snippet):  # each of a snippet's cached frames once
        split.train.set_epoch(epoch)
        for i in range(len(split.train)):
            item = split.train[i]
            n = item["length"]
            xs.append(encode(item["x"][:n]))
            ys.append(item["snippet_labels"][:n] > 0.5)
    clf = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
    clf.fit(np.concatenate(xs), np.concatenate(ys))
    truth = experiment.test_truth(split, lists, cfg.data.dataset)
    frames = []
    for i in range(len(split.test.entries)):
        video = split.test.load(i)
        frames.append(metrics.snippets_to_frames(clf.predict_proba(encode(video))[:, 1]))
    gt = np.concatenate(truth.frame_gt)
    scores = np.concatenate(frames)
    return {"AP": 100 * average_precision_score(gt, scores), "AUC": 100 * roc_auc_score(gt, scores),
            "kinds": kind_aucs(frames, truth)}


def summarise(runs: dict) -> dict:
    """Mean and standard deviation over seeds of every figure of every model."""
    summary = {}
    for model in MODELS:
        rows = [r[model] for r in runs.values() if model in r]
        if not rows:
            continue
        keys = ["AP", "AUC"] + [f"kind:{k}" for k in rows[0]["kinds"]]
        values = {k: [r[k] if not k.startswith("kind:") else r["kinds"][k[5:]] for r in rows] for k in keys}
        summary[model] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
                          for k, v in values.items()}
    return summary


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for k in summary["teacher"] if k.startswith("kind:")]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / len(summary)
    for j, (model, figures) in enumerate(summary.items()):
        x = np.arange(len(kinds)) + j * width
        ax.bar(x, [figures[k]["mean"] for k in kinds], width, yerr=[figures[k]["std"] for k in kinds],
               label=model.replace("_", " "), capsize=2)
    ax.axhline(50, color="grey", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(kinds)) + 0.4 - width / 2, [k[5:] for k in kinds])
    ax.set_ylabel("test AUC (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, ncol=4, loc="lower right")
    ax.set_title("coarse stage per kind, synthetic benchmark (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pretrained", type=Path, required=True, help="backbone from `tcvads pretrain-backbone`")
    parser.add_argument("--out", type=Path, required=True, help="results folder (one run folder per seed)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--cache", type=Path, help="data cache shared by the seeds (default OUT/cache)")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="training overrides")
    args = parser.parse_args(argv)
    os.nice(max(0, 10 - os.nice(0)))  # niceness 10 (inherited by the trainings), not more
    args.cache = (args.cache or args.out / "cache").resolve()
    args.pretrained = args.pretrained.resolve()
    import torch

    torch.set_num_threads(1)
    from tcvads_ros.training import experiment
    from tcvads_ros.training.train_config import load_config

    runs, timing = {}, {}
    for seed in args.seeds:
        base = args.out / f"seed{seed}"
        started = time.perf_counter()
        train(base / "teacher", args, seed, "--stage", "teacher")
        train(base / "distilled", args, seed, "--stage", "student", "--teacher", str(base / "teacher"))
        train(base / "nokd", args, seed, "--stage", "student", "--teacher", str(base / "teacher"),
              "student.distill=false")
        timing[seed] = round(time.perf_counter() - started, 1)
        cfg = load_config(args.config, [f"seed={seed}", f"data.cache_dir={args.cache}", *args.overrides])
        lists = experiment.source_lists(cfg.data, args.cache, False)
        result = {}
        result["teacher"], teacher = evaluate(base / "teacher", "teacher", cfg, lists, args.cache)
        result["student"], _ = evaluate(base / "distilled", "student", cfg, lists, args.cache)
        result["student_nokd"], _ = evaluate(base / "nokd", "student", cfg, lists, args.cache)
        result["ceiling"] = ceiling(teacher, cfg, lists, args.cache, seed)
        runs[seed] = result
        print(f"seed {seed}: " + "  ".join(f"{m} AP {r['AP']:.1f} AUC {r['AUC']:.1f}" for m, r in result.items()),
              flush=True)
    summary = summarise(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "seeds.json").write_text(json.dumps({"runs": runs, "summary": summary, "train_seconds": timing,
                                                     "overrides": args.overrides}, indent=2) + "\n")
    plot(summary, args.out / "per_kind.png")
    for model, figures in summary.items():
        print(model, "  ".join(f"{k}: {v['mean']:.1f}±{v['std']:.1f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
