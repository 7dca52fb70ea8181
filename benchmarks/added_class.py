# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A kind the fine stage never saw, added by name: how often is it recognised? (docs/added_classes.md)

For each abnormal kind X of the synthetic benchmark in turn:

1. the fine stage is trained as `tcvads train` trains it (same losses, Exp. 17-19, same
   optimiser, `fit`) on the training videos that do not contain X, with X absent from its
   class list (the class and its videos left out entirely);
2. X's rows are computed by name with `TextRows.rows`, the function `tcvads bundle add-class`
   writes into a bundle, and put in the table at X's place;
3. every test video is named by the edge rule (top-m captions retrieved, class text = the
   table's rows averaged over them; `runtime/fine.py`), the video-level class scores
   (`metrics.video_class_scores`, top-1).

It reports, per kind: how often X's test videos are named X (top-1 over all classes, and over
the abnormal classes only, since the fine stage runs on what the coarse stage found abnormal),
how often the other abnormal test videos are named correctly by the same model, how often they
are wrongly named X, the same numbers for a fine stage trained with X (the ceiling), and chance.
Results go to OUT/results.json and a plot (--plot).

    python -m benchmarks.added_class --out runs/added-class --standin models/clip-standin \
        --plot docs/images/added_classes.png data.synth.videos=240
    python -m benchmarks.added_class --out runs/added-class-random --random-clip data.synth.videos=240
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.timing import REPO
from tcvads_ros.config_files import config_file
from tcvads_ros.configuration import to_mapping
from tcvads_ros.data.annotations import XD_CLASSES
from tcvads_ros.models.captions import CaptionBank
from tcvads_ros.models.registry import create_model
from tcvads_ros.progress import progress_bar
from tcvads_ros.runtime.fine import class_text, retrieve_captions
from tcvads_ros.training import (
    experiment,
    feature_datasets,
    fine_stage,
    metrics,
    resampling,
    standin_clip,
)
from tcvads_ros.training.run_folder import RunFolder, pick_device, seed_everything
from tcvads_ros.training.text_rows import TextRows
from tcvads_ros.training.train_config import load_config
from tcvads_ros.training.trainer import Context, fit


def train(cfg, names: list[str], leave_out: int | None, split, captions: list[str], folder: Path,
          device, progress: bool, reuse: bool = False) -> torch.nn.Module:
    """The fine stage trained without class `leave_out` and its videos (None: with every class);
    saved as a run folder's fine stage, where `TextRows` (add-class) reads it back. With `reuse`,
    one trained there before is read back instead."""
    if reuse and RunFolder(folder, writable=False).finished("fine"):
        return RunFolder(folder, writable=False).load_stage("fine").to(device)
    keep = [i for i in range(len(names)) if i != leave_out]
    dataset = split.train
    if leave_out is not None:  # a shallow copy with only the videos that do not show the kind
        pairs = [(e, t) for e, t in zip(dataset.entries, dataset.targets) if t[leave_out] == 0]
        dataset = type(dataset).__new__(type(dataset))
        dataset.__dict__.update(split.train.__dict__)
        dataset.entries, dataset.targets = [e for e, _ in pairs], [t for _, t in pairs]
    torch.manual_seed(cfg.seed)
    classes = [names[i] for i in keep]
    model = create_model(fine_stage.FINE, **cfg.fine.model, class_names=classes, captions=captions).to(device)
    with torch.no_grad():
        bank = model.caption_embeddings()
    loss = fine_stage.fine_loss(cfg, bank)
    columns = torch.tensor(keep)

    def loss_without(m, batch):  # the left-out class's target column goes with it
        return loss(m, {**batch, "targets": batch["targets"][:, columns.to(batch["targets"].device)]})

    run = RunFolder(folder)
    fit("fine", model, dataset, feature_datasets.collate_train, loss_without, cfg.fine.optim,
        Context(run, device, cfg.seed, progress=progress), None, checkpoint=False)
    run.save_model("fine", model, fine_stage.FINE, to_mapping(model.cfg),
                   {"model_args": {"class_names": classes, "captions": captions}})
    run.close()
    return model.eval()


@torch.no_grad()
def name_videos(model, table: np.ndarray, bank: np.ndarray, test, top_m: int, device) -> np.ndarray:
    """(N, C) video-level class scores of the test videos with the class x caption `table`."""
    scores = []
    for item in map(feature_datasets.collate_test, ([test[i]] for i in range(len(test)))):
        chunks, lengths = item["chunks"].to(device), item["chunk_lengths"].to(device)
        whole = chunks.reshape(-1, chunks.shape[-1])[: item["length"]]
        indices, _ = retrieve_captions(bank, whole.cpu().numpy(), top_m)  # the runtime's rule
        text = torch.from_numpy(class_text(table, indices)).to(device).expand(len(chunks), -1, -1)
        probs = model(chunks, text, lengths)["probs"].float().cpu().numpy()
        scores.append(metrics.video_class_scores(metrics.snippets_to_frames(resampling.unchunk(probs, item["length"]))))
    return np.stack(scores)


def rates(scores: np.ndarray, targets: np.ndarray, kind: int) -> dict:
    """Top-1 shares on abnormal test videos: X's videos named X; the others named one of their kinds."""
    abnormal = targets[:, 0] == 0
    top_all = scores.argmax(1)
    top_abn = scores[:, 1:].argmax(1) + 1  # the fine stage runs on what the coarse stage flagged
    has = abnormal & (targets[:, kind] == 1)
    other = abnormal & (targets[:, kind] == 0)
    hit = lambda top, rows: float(np.mean([targets[i, top[i]] == 1 for i in np.flatnonzero(rows)])) if rows.any() else float("nan")  # noqa: E731
    return {
        "videos": int(has.sum()), "other_videos": int(other.sum()),
        "recognised": float(np.mean(top_all[has] == kind)) if has.any() else float("nan"),
        "recognised_among_abnormal": float(np.mean(top_abn[has] == kind)) if has.any() else float("nan"),
        "others_correct": hit(top_all, other), "others_correct_among_abnormal": hit(top_abn, other),
        "others_named_added": float(np.mean(top_all[other] == kind)) if other.any() else float("nan"),
        "others_named_added_among_abnormal": float(np.mean(top_abn[other] == kind)) if other.any() else float("nan"),
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(results["kinds"])
    x = np.arange(len(kinds))
    bars = [("its videos named it: added by name, never trained", "recognised_among_abnormal", "added"),
            ("other kinds' videos named it (wrongly)", "others_named_added_among_abnormal", "added"),
            ("other kinds named correctly, same model", "others_correct_among_abnormal", "added"),
            ("its videos named it: trained with it (ceiling)", "recognised_among_abnormal", "ceiling")]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.2
    for i, (label, key, which) in enumerate(bars):
        ax.bar(x + (i - 1.5) * width, [100 * results["kinds"][k][which][key] for k in kinds], width, label=label)
    ax.axhline(100 / (len(results["class_names"]) - 1), color="k", ls="--", lw=1, label="chance")
    ax.set_xticks(x, kinds)
    ax.set_ylabel("top-1 among abnormal kinds (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"A kind left out of training, added by name ({results['clip']})", fontsize=10)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "added-class")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "train" / "synthetic.yaml")
    parser.add_argument("--leave-out", action="append", dest="kinds", metavar="KIND",
                        help="a kind to leave out (repeat for several; default: each abnormal kind in turn)")
    parser.add_argument("--plot", type=Path, default=None, help="also write the plot here (PNG)")
    parser.add_argument("--standin", type=Path, default=None,
                        help="a stand-in CLIP folder (tcvads pretrain-clip) under the fine stage")
    parser.add_argument("--random-clip", action="store_true",
                        help="the stand-in's architecture (config/train/clip-standin) without weights")
    parser.add_argument("--reuse", action="store_true", help="read back the fine stages trained in OUT before")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("overrides", nargs="*", help="key.path=value overrides of the training config")
    args = parser.parse_args(argv)
    args.kinds = args.kinds or XD_CLASSES[1:]
    unknown = sorted(set(args.kinds) - set(XD_CLASSES[1:]))
    if unknown:
        parser.error(f"--leave-out {', '.join(unknown)}: not an abnormal kind ({', '.join(XD_CLASSES[1:])})")
    torch.set_num_threads(args.threads)
    clip = []
    if args.standin:
        clip = standin_clip.fine_overrides(args.standin)
    elif args.random_clip:
        clip = [f"fine.model.clip_model=local-dir:{config_file('train/clip-standin').resolve()}",
                "fine.model.checkpoint=null"]
    cfg = load_config(args.config, [*clip, *args.overrides, "data.val_fraction=0"])
    seed_everything(cfg.seed)
    progress = sys.stderr.isatty()
    device = pick_device(cfg.device)
    cache = Path(cfg.data.cache_dir) if cfg.data.cache_dir else args.out / "cache"
    started = time.time()
    lists = experiment.source_lists(cfg.data, cache, progress)
    names = experiment.class_names_of(cfg.data.dataset)
    captions = CaptionBank.from_file(cfg.fine.captions or config_file("captions.yaml")).captions
    extractor = create_model(fine_stage.FINE, **cfg.fine.model, class_names=names, captions=captions)
    split = fine_stage.fine_data(cfg, extractor, lists, cache, device, progress)
    targets = np.stack(split.test.targets)
    top_m = extractor.cfg.top_m
    results = {"config": str(args.config), "overrides": args.overrides, "class_names": names,
               "clip": f"{Path(extractor.cfg.clip_model).name}, "
                       + (Path(extractor.cfg.checkpoint).name if extractor.cfg.checkpoint else "random frozen CLIP"),
               "train_videos": len(split.train), "test_videos": len(split.test),
               "abnormal_test_videos": int((targets[:, 0] == 0).sum()), "kinds": {}}
    del extractor
    ceiling = train(cfg, names, None, split, captions, args.out / "all-kinds", device, progress, args.reuse)
    ceiling_scores = name_videos(ceiling, ceiling.class_caption_table().numpy(),
                                 ceiling.caption_embeddings().numpy(), split.test, top_m, device)
    saved = {"all-kinds": ceiling_scores, "targets": targets}  # (N, C) video class scores, for later looks
    for kind_name in progress_bar(args.kinds, desc="kinds", show=progress):
        kind = names.index(kind_name)
        folder = args.out / f"without-{kind_name.lower().replace(' ', '-')}"
        model = train(cfg, names, kind, split, captions, folder, device, progress, args.reuse)
        table = model.class_caption_table().numpy()
        row = TextRows(folder).rows([kind_name], captions)  # what `tcvads bundle add-class` writes
        table = np.concatenate([table[:kind], row, table[kind:]], axis=0)
        scores = name_videos(model, table, model.caption_embeddings().numpy(), split.test, top_m, device)
        results["kinds"][kind_name] = {"added": rates(scores, targets, kind),
                                       "ceiling": rates(ceiling_scores, targets, kind)}
        saved[kind_name] = scores
        print(f"{kind_name:14s} " + json.dumps(results["kinds"][kind_name]), flush=True)
    results["chance_all"] = 1 / len(names)
    results["chance_among_abnormal"] = 1 / (len(names) - 1)
    results["seconds"] = round(time.time() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    np.savez(args.out / "scores.npz", **saved)
    print(table_markdown(results))
    if args.plot:
        plot(results, args.plot)
    return 0


def table_markdown(results: dict) -> str:
    pct = lambda v: "–" if v != v else f"{100 * v:.0f} %"  # noqa: E731
    lines = ["| left-out kind | its test videos | named it (all classes) | named it (abnormal only) | "
             "other kinds correct (abnormal only) | others named it (abnormal only) | "
             "ceiling: trained with it (abnormal only) |",
             "|---|---|---|---|---|---|---|"]
    for kind, r in results["kinds"].items():
        a, c = r["added"], r["ceiling"]
        lines.append(f"| {kind} | {a['videos']} | {pct(a['recognised'])} | {pct(a['recognised_among_abnormal'])} | "
                     f"{pct(a['others_correct_among_abnormal'])} | {pct(a['others_named_added_among_abnormal'])} | "
                     f"{pct(c['recognised_among_abnormal'])} |")
    lines.append(f"\nchance: {pct(results['chance_all'])} over all classes, "
                 f"{pct(results['chance_among_abnormal'])} among the abnormal ones")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
