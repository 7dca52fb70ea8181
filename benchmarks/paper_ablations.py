#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Paper Tables VII and VIII, and Fig. 3's text branch, on the synthetic benchmark, over seeds.

    python -m benchmarks.paper_ablations table-vii --out runs/paper-ablations --threads 1
    python -m benchmarks.paper_ablations table-viii --out runs/paper-ablations --threads 1
    python -m benchmarks.paper_ablations text-branch --out runs/paper-ablations --threads 1

Each table is a list of `benchmarks/fine_ablation.py` variants (the fine stage on the stand-in
CLIP, trained on ``config/train/synthetic.yaml``'s train split, `tcvads train --stage fine`),
each trained once per seed (``--seeds``, default 0 1 2; the seed sets the initialisation, the
batches and the validation videos drawn from the training split; the test videos are the same)
and measured on the test split: frame-level AP and AUC of the anomaly score 1 − P(Normal),
mAP@IoU 0.1-0.5 and their mean (VadCLIP's protocol, `training.metrics`). Runs live in
``OUT/<variant>-seed<S>`` and are re-used, so the tables share their common rows (the full
TCVADS fine stage is the Enhanced RWKV row of Table VII, the last row of Table VIII and the
first of the text-branch comparison) and a second command only trains what is missing.

- ``table-vii`` (paper Table VII, temporal models): Enhanced RWKV; RWKV with ChannelMix;
  VadCLIP's LGT-Adapter; no temporal model.
- ``table-viii`` (paper Table VIII, prompts): hand-crafted; learnable (context + label);
  average-frame and anomaly-focus visual prompts (VadCLIP Eq. 6-7); TCVADS's triplet.
- ``text-branch``: TCVADS's fine stage with one text per clip (what the bundles ship) against
  the text branch of Fig. 3 (every snippet's captions through an Enhanced RWKV).

The paper's figures (XD-Violence, real CLIP ViT-B/16 features) are printed beside ours for
reading, not for comparison: the data differ. Writes ``OUT/<table>.json`` (every run's figures
and the mean and standard deviation) and ``OUT/<table>.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import fine_ablation
from tcvads_ros.runtime.bundle import sha256
from tcvads_ros.training import standin_clip

# table -> [(row label, fine_ablation variant, paper AP or None, paper mAP AVG or None)]
TABLES: dict[str, list[tuple[str, str, float | None, float | None]]] = {
    "table-vii": [
        ("Enhanced RWKV (two TimeMix blocks)", "c_standin_full", 85.58, 26.95),
        ("RWKV (TimeMix + ChannelMix)", "f_rwkv_channelmix", 84.27, 24.71),
        ("LGT-Adapter (local Transformer + GCN)", "f_lgt_adapter", 85.13, 24.76),
        ("no temporal model", "f_no_temporal", 73.25, 16.68),
    ],
    "table-viii": [
        ("hand-crafted prompt", "d_hand_crafted", None, 18.46),
        ("learnable prompt (context + label)", "d_no_captions", None, 25.31),
        ("average-frame visual prompt", "d_average_frame", None, 21.53),
        ("anomaly-focus visual prompt", "d_anomaly_focus", None, 25.26),
        ("TCVADS (context + label + retrieved captions)", "c_standin_full", None, 26.95),
    ],
    "text-branch": [
        ("one text per clip, no text RWKV (the bundles' form)", "c_standin_full", None, None),
        ("Fig. 3: per-snippet text through an Enhanced RWKV, m × m alignment", "e_text_rwkv", None, None),
    ],
}
METRICS = ("AP", "AUC", "mAP@0.1", "mAP@0.2", "mAP@0.3", "mAP@0.4", "mAP@0.5", "mAP_avg", "accuracy")


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def aggregate(rows: dict[str, dict[int, dict]], table: str) -> list[dict]:
    """Per table row: its label, the paper's figures and the mean/sd of every metric over seeds."""
    out = []
    for label, variant, paper_ap, paper_avg in TABLES[table]:
        runs = rows.get(variant, {})
        entry = {"row": label, "variant": variant, "seeds": sorted(runs), "paper_AP": paper_ap,
                 "paper_mAP_avg": paper_avg}
        for key in METRICS:
            values = [runs[s][key] for s in sorted(runs) if key in runs[s]]
            if values:
                entry[key], entry[f"{key}_sd"] = mean_sd(values)
        out.append(entry)
    return out


def markdown(entries: list[dict], table: str) -> str:
    def cell(e, key):
        return f"{e[key]:.2f} ± {e[key + '_sd']:.2f}" if key in e else "—"

    def paper(value):
        return "—" if value is None else f"{value:.2f}"

    with_paper = table != "text-branch"
    maps = [f"mAP@{t}" for t in (0.1, 0.2, 0.3, 0.4, 0.5)]
    head = "| row | AP | AUC | " + " | ".join(maps) + " | mAP AVG | category acc. (%) |"
    rule = "|---" * (5 + len(maps)) + "|"
    if with_paper:
        head += " paper AP (XD) | paper mAP AVG (XD) |"
        rule += "---|---|"
    lines = [head, rule]
    for e in entries:
        line = (f"| {e['row']} | {cell(e, 'AP')} | {cell(e, 'AUC')} | "
                + " | ".join(cell(e, m) for m in maps)
                + f" | **{cell(e, 'mAP_avg')}** | {cell(e, 'accuracy')} |")
        if with_paper:
            line += f" {paper(e['paper_AP'])} | {paper(e['paper_mAP_avg'])} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table", choices=sorted(TABLES))
    parser.add_argument("--out", type=Path, required=True, help="work folder (runs, cache, results)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--config", type=Path, default=None,
                        help="training config (default config/train/synthetic.yaml)")
    parser.add_argument("--standin", type=Path, default=None,
                        help="a `tcvads pretrain-clip` folder (default: the shipped models/clip-standin)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="for every run")
    args = parser.parse_intermixed_args(argv)
    progress = not args.no_progress
    config, standin, base = fine_ablation.prepare(args)
    standin_sha = sha256(standin / standin_clip.WEIGHTS)
    runs_path = args.out / "runs.json"  # every (variant, seed) measured in this folder
    measured = json.loads(runs_path.read_text()) if runs_path.is_file() else {}
    if measured and measured.get("standin_sha256") != standin_sha:
        parser.error(f"{runs_path}: measured on another stand-in CLIP than {standin}; give a new --out")
    measured["standin_sha256"] = standin_sha
    runs = measured.setdefault("runs", {})
    started_all = time.perf_counter()
    for seed in args.seeds:
        for _, variant, _, _ in TABLES[args.table]:
            key = f"{variant}-seed{seed}"
            if key in runs:
                continue
            started = time.perf_counter()
            overrides = fine_ablation.variant_overrides(variant, standin, base) + [f"seed={seed}"]
            run = fine_ablation.train_variant(args.out / key, config, overrides, progress)
            row = fine_ablation.evaluate_variant(run, config, overrides, progress)
            runs[key] = {"variant": variant, "seed": seed, **row,
                         "seconds": round(time.perf_counter() - started)}
            print(json.dumps({"run": key, **{m: round(row[m], 2) for m in ("AP", "AUC", "mAP_avg")}}),
                  flush=True)
            runs_path.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
    by_variant: dict[str, dict[int, dict]] = {}
    for r in runs.values():
        if r["seed"] in args.seeds:
            by_variant.setdefault(r["variant"], {})[r["seed"]] = r
    entries = aggregate(by_variant, args.table)
    result = {"table": args.table, "seeds": args.seeds, "config": str(config), "standin_sha256": standin_sha,
              "overrides": args.overrides, "rows": entries,
              "runs": {k: v for k, v in runs.items() if v["seed"] in args.seeds
                       and v["variant"] in {e["variant"] for e in entries}},
              "seconds_this_command": round(time.perf_counter() - started_all)}
    (args.out / f"{args.table}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    text = markdown(entries, args.table)
    (args.out / f"{args.table}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
