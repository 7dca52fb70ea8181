# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The audio branch measured: the coarse stage with and without sound, on the same videos, over seeds.

For each seed, on one `tcvads synth --audio` benchmark (config/train/synthetic-audio.yaml): the
AFED teacher and the QACM student distilled from it, trained with their audio branches
("audio") and the same two without them ("vision"); and on `--fusion-seeds` the teacher with
each other alignment rule of `models/audio.py` (CMHKF's top-k window, the ±w maximum, plain
concatenation), its student distilled from it. Then, on the test split, frame-level AP and AUC
overall and per kind (each kind's frames against every normal frame; verbal abuse, the kind that
is heard but barely seen, apart from the visible abuse it is annotated as), and the false alarms
per hour on held-out normal footage of the benchmark's cameras with their distractor sounds
(door slams, horns, music): each model's scores through the runtime's event state machine
(`runtime.events` with the default timings, as `tcvads detect` runs a bundle) at the threshold
training calibrates on the validation videos (the bundle's). Every snippet's sound is the
runtime's feature rule (`runtime.audio_features`, through training's audio cache).

    python -m benchmarks.audio_seeds --out runs/audio-seeds --seeds 0 1 2 [--fusion-seeds 0 1 2]
    python -m benchmarks.audio_seeds --out /tmp/audio-quick --quick

The backbone is the shipped pretrained one, frozen (teacher.freeze_backbone), so every model
reads the same visual features: they are computed once per video here and reused for every
model. Writes OUT/audio_seeds.json and prints the table with each target judged. ``--quick``
runs the same code on a tiny benchmark and one epoch (for the tests; its figures mean nothing).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "train" / "synthetic-audio.yaml"
VERBAL = "Verbal abuse"  # synthetic.VerbalAbuse: annotated B5 (abuse), heard but barely seen
FUSIONS = ("topk_window", "window_max", "concat")
# the table's order: XD-Violence's, verbal abuse beside abuse
KINDS = ("Fighting", "Shooting", "Riot", "Abuse", VERBAL, "Car accident", "Explosion")
FOOTAGE_FIRST = 200_000  # the held-out footage's video numbers (beyond any benchmark's)
# --quick: the same code path on a benchmark of a few tiny videos, one epoch per stage
QUICK = ["data.synth.videos=16", "data.synth.frames=96", "data.synth.width=64", "data.synth.height=48",
         "data.synth.test_share=0.5", "data.val_fraction=0.34", "teacher.optim.epochs=1", "student.optim.epochs=1",
         "student.temperature_search.enabled=false"]
# Targets of the audio branch (docs/results.md, "Sound")
SHOOTING_GAIN = 15.0  # shooting AUC up by at least this many points
AUDIBLE_ONLY = 80.0  # verbal abuse's AUC with sound at least this
WORSE_BY = 2.0  # no kind worse by more than this


def variants(config_fusion: str) -> dict[str, list[str]]:
    """Name -> the training overrides of each model pair."""
    out = {"audio": [], "vision": ["teacher.model.audio=null", "student.model.audio=null"]}
    for fusion in FUSIONS:
        if fusion != config_fusion:
            out[f"fusion:{fusion}"] = [f"teacher.model.audio.fusion={fusion}"]
    return out


def train(folder: Path, args: argparse.Namespace, seed: int, overrides: list[str]) -> None:
    """Teacher then student into `folder` (`tcvads train`'s own function, in this process)."""
    from tcvads_ros.training import train as train_cli

    parser = argparse.ArgumentParser()
    train_cli.configure_parser(parser)
    common = [f"seed={seed}", f"data.cache_dir={args.cache}", *args.overrides, *overrides]
    for stage in ("teacher", "student"):
        if (folder / f"{stage}.safetensors").is_file():
            continue  # trained by an earlier call
        train_cli.train(parser.parse_args(["--config", str(args.config), "--out", str(folder), "--stage", stage,
                                           "--no-progress", *common]))


def write_footage(out: Path, synth, count: int, seconds: float) -> Path:
    """`count` normal videos of `seconds` from the benchmark's cameras with their sound (ambience
    and one to three distractors each), numbered beyond the benchmark's; returns their list."""
    from tcvads_ros.data import synthetic, synthetic_audio
    from tcvads_ros.data.annotations import ListEntry, write_feature_list

    cfg = replace(synth, frames=int(round(seconds * synth.fps)), audio=True)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    rows, distractors = [], 0
    for k in range(count):
        index = FOOTAGE_FIRST + k
        plan = synthetic.VideoPlan(index, f"footage_{index}_label_A", "test", k % cfg.cameras, "A", ())
        video = out / "videos" / f"{plan.name}{cfg.extension}"
        track, sounds = synthetic.sound_track(plan, cfg)
        distractors += len(sounds)
        if not video.is_file():
            partial = video.with_name(f"{plan.name}.partial{cfg.extension}")
            synthetic.write_video(partial, synthetic.render_frames(plan, cfg), cfg)
            synthetic_audio.write_wav(video.with_suffix(".wav"), track)
            partial.replace(video)
        rows.append(ListEntry(f"videos/{video.name}", "A"))
    write_feature_list(out / "footage.csv", rows)
    (out / "footage.json").write_text(json.dumps({"videos": count, "seconds": seconds,
                                                  "distractor_sounds": distractors}) + "\n")
    return out / "footage.csv"


def episode_kinds(cfg, names: list[str], lengths: list[int]) -> list[list[tuple[str, int, int]]]:
    """Per test video: (kind, start, end) of each episode, in frames cut to the 16·T scored ones;
    verbal abuse named apart from abuse (`synthetic.is_verbal`)."""
    from tcvads_ros.data.annotations import SNIPPET_FRAMES, XD_CODES
    from tcvads_ros.data.synthetic import is_verbal, plan_benchmark

    plans = {p.name: p for p in plan_benchmark(cfg.data.synth)}
    out = []
    for name, snippets in zip(names, lengths):
        plan, end = plans[name], snippets * SNIPPET_FRAMES
        out.append([(VERBAL if is_verbal(plan, cfg.data.synth, k) else XD_CODES[seg.label], seg.start, min(seg.end, end))
                    for k, seg in enumerate(plan.episodes)])
    return out


def kind_figures(frames: list[np.ndarray], gt: list[np.ndarray], kinds: list[list]) -> dict[str, dict]:
    """AUC and AP (%) of every kind's frames against all normal frames of the test videos."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores, truth = np.concatenate(frames), np.concatenate(gt)
    starts = np.cumsum([0] + [len(f) for f in frames[:-1]])
    names = sorted({k for video in kinds for k, _, _ in video})
    out = {}
    for kind in names:
        mask = np.zeros(len(truth), dtype=bool)
        for start, episodes in zip(starts, kinds):
            for k, a, b in episodes:
                if k == kind:
                    mask[start + a:start + b] = True
        keep = mask | (truth == 0)
        out[kind] = {"AUC": 100 * roc_auc_score(mask[keep], scores[keep]),
                     "AP": 100 * average_precision_score(mask[keep], scores[keep]), "frames": int(mask.sum())}
    return out


class Scorer:
    """Every model's snippet probabilities on the datasets, the backbone's features of each video
    computed once per backbone (all runs here share the frozen pretrained one)."""

    def __init__(self):
        self.features: dict[tuple[str, int], list] = {}

    @staticmethod
    def backbone_key(model) -> str:
        digest = hashlib.sha1()
        for name, value in sorted(model.backbone.state_dict().items()):
            digest.update(name.encode())
            digest.update(value.detach().cpu().numpy().tobytes())
        return digest.hexdigest()

    def encoded(self, model, dataset) -> list:
        import torch

        from tcvads_ros.training.coarse import input_fn

        key = (self.backbone_key(model), id(dataset))
        if key not in self.features:
            model.eval()
            to_input = input_fn(model, torch.device("cpu"))
            rows = []
            with torch.no_grad():
                for i in range(len(dataset)):
                    frames = dataset.load(i)
                    sound = dataset.audio(i, len(frames))
                    audio = heard = None
                    if sound is not None:
                        audio, heard = (torch.from_numpy(a)[None] for a in sound)
                    rows.append((model.encode(to_input(torch.from_numpy(frames)[None])), audio, heard))
            self.features[key] = rows
        return self.features[key]

    def probabilities(self, model, dataset) -> list[np.ndarray]:
        """Per video (T,) anomaly probabilities over the whole video (causal for the student, as it streams)."""
        import torch

        model.eval()
        with torch.no_grad():
            return [torch.sigmoid(model.score(x, audio, heard))[0].numpy()
                    for x, audio, heard in self.encoded(model, dataset)]


def false_alarms(probs: list[np.ndarray], names: list[str], threshold: float, fps: float) -> dict:
    """Alarms the runtime's event state machine raises on the footage's scores at `threshold`."""
    from tcvads_ros.data.annotations import SNIPPET_FRAMES
    from tcvads_ros.runtime.alarm_budget import ScoreTrace, count_alarms
    from tcvads_ros.runtime.site_profile import event_settings

    traces = []
    for name, p in zip(names, probs):
        frames = np.arange(len(p)) * SNIPPET_FRAMES
        traces.append(ScoreTrace(name, p.astype(np.float64), frames / fps, frames, len(p) * SNIPPET_FRAMES / fps))
    hours = sum(t.seconds for t in traces) / 3600.0
    alarms = count_alarms(traces, event_settings(threshold))
    return {"alarms": alarms, "hours": hours, "per_hour": alarms / hours, "threshold": threshold}


def evaluate(folder: Path, cfg, split, truth, kinds, footage, scorer: Scorer) -> dict:
    """Test figures and false alarms of the run's teacher and student."""
    from tcvads_ros.training import metrics
    from tcvads_ros.training.alarm_threshold import choose_threshold
    from tcvads_ros.training.coarse import validation_scores
    from tcvads_ros.training.run_folder import RunFolder

    run = RunFolder(folder, writable=False)
    out = {}
    for stage in ("teacher", "student"):
        model = run.load_stage(stage)
        frames = [metrics.snippets_to_frames(p) for p in scorer.probabilities(model, split.test)]
        values = metrics.coarse_metrics(frames, truth.frame_gt, truth.abnormal)
        scores, labels, _ = validation_scores(scorer.probabilities(model, split.val), split)
        threshold = choose_threshold(scores, labels, cfg.calibration.method)["threshold"]
        normal = scorer.probabilities(model, footage)
        out[stage] = {"AP": values["AP"], "AUC": values["AUC"], "kinds": kind_figures(frames, truth.frame_gt, kinds),
                      "false_alarms": false_alarms(normal, [e.name for e in footage.entries], threshold,
                                                   cfg.data.synth.fps),
                      "hears": model.audio is not None}
    return out


def summarise(runs: dict) -> dict:
    """Mean and standard deviation over seeds of every figure, per variant and stage."""
    table: dict = {}
    for result in runs.values():
        for variant, stages in result.items():
            for stage, r in stages.items():
                row = table.setdefault(variant, {}).setdefault(stage, {})
                values = {"AP": r["AP"], "AUC": r["AUC"], "FA/h": r["false_alarms"]["per_hour"],
                          **{f"AUC:{k}": v["AUC"] for k, v in r["kinds"].items()},
                          **{f"AP:{k}": v["AP"] for k, v in r["kinds"].items()}}
                for key, value in values.items():
                    row.setdefault(key, []).append(value)
    return {variant: {stage: {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)}
                              for k, v in row.items()} for stage, row in stages.items()}
            for variant, stages in table.items()}


def judge(summary: dict, stage: str = "student") -> list[dict]:
    """The targets, on the means over seeds of `stage` with sound against without."""
    audio, vision = summary["audio"][stage], summary["vision"][stage]
    kinds = sorted(k[4:] for k in audio if k.startswith("AUC:"))
    mean = {name: (lambda key, s=s: s[key]["mean"] if key in s else float("nan"))
            for name, s in (("audio", audio), ("vision", vision))}
    gain = mean["audio"]("AUC:Shooting") - mean["vision"]("AUC:Shooting")
    worst = min(kinds, key=lambda k: mean["audio"](f"AUC:{k}") - mean["vision"](f"AUC:{k}"))
    worst_change = mean["audio"](f"AUC:{worst}") - mean["vision"](f"AUC:{worst}")
    verbal = (mean["audio"](f"AUC:{VERBAL}"), mean["vision"](f"AUC:{VERBAL}"))
    fa = (mean["audio"]("FA/h"), mean["vision"]("FA/h"))
    return [
        {"target": f"shooting AUC up by >= {SHOOTING_GAIN:g}", "value": f"{gain:+.1f}", "met": gain >= SHOOTING_GAIN},
        {"target": f"verbal abuse AUC >= {AUDIBLE_ONLY:g} with sound (vision near 50)",
         "value": f"{verbal[0]:.1f} (vision {verbal[1]:.1f})", "met": verbal[0] >= AUDIBLE_ONLY},
        {"target": f"no kind worse by > {WORSE_BY:g}", "value": f"{worst} {worst_change:+.1f}",
         "met": worst_change >= -WORSE_BY},
        {"target": "false alarms/h not higher", "value": f"{fa[0]:.1f} vs {fa[1]:.1f}", "met": fa[0] <= fa[1]},
    ]


def print_table(summary: dict, metric: str = "AUC") -> None:
    """One row per model: AP, AUC, each kind's `metric` and the false alarms per hour."""
    first = next(iter(next(iter(summary.values())).values()))
    found = {k.split(":", 1)[1] for k in first if k.startswith(f"{metric}:")}
    kinds = [k for k in KINDS if k in found] + sorted(found - set(KINDS))
    print("| model | AP | AUC | " + " | ".join(f"{k} ({metric})" for k in kinds) + " | false alarms/h |")
    print("|---" * (len(kinds) + 4) + "|")
    for name, stages in summary.items():
        for stage_name, row in stages.items():
            cells = [f"{row[k]['mean']:.1f} ± {row[k]['std']:.1f}" if k in row else "—"
                     for k in ("AP", "AUC", *[f"{metric}:{k}" for k in kinds], "FA/h")]
            print(f"| {stage_name}, {name} (n={row['AUC']['n']}) | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="results folder (one run folder per seed and variant)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fusion-seeds", type=int, nargs="*", default=[0],
                        help="seeds on which the other alignment rules are trained too (default: 0)")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--cache", type=Path, help="data cache shared by the runs (default OUT/cache)")
    parser.add_argument("--footage-videos", type=int, default=40, help="held-out normal videos (one minute each)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--quick", action="store_true", help="tiny benchmark, one epoch: the code path only")
    parser.add_argument("overrides", nargs="*", metavar="key.path=value", help="training overrides")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from tcvads_ros.models.audio import AudioFusionConfig
    from tcvads_ros.training import experiment
    from tcvads_ros.training.run_folder import RunFolder
    from tcvads_ros.training.stages import coarse_data
    from tcvads_ros.training.train_config import load_config

    if args.quick:
        args.overrides = [*QUICK, *args.overrides]
    args.cache = (args.cache or args.out / "cache").resolve()
    cfg = load_config(args.config, [f"data.cache_dir={args.cache}", *args.overrides])
    chosen = (cfg.teacher.model.get("audio") or {}).get("fusion", AudioFusionConfig.fusion)
    seconds = 8.0 if args.quick else 60.0
    footage_list = write_footage(args.out / "footage", cfg.data.synth, 2 if args.quick else args.footage_videos,
                                 seconds)
    runs, timing, scorer = {}, {}, Scorer()
    for seed in args.seeds:
        started = time.perf_counter()
        folders = {}
        for name, overrides in variants(chosen).items():
            if name.startswith("fusion:") and seed not in args.fusion_seeds:
                continue
            folders[name] = args.out / f"seed{seed}" / name.replace(":", "-")
            train(folders[name], args, seed, overrides)
        timing[seed] = round(time.perf_counter() - started, 1)
        seed_cfg = load_config(args.config, [f"seed={seed}", f"data.cache_dir={args.cache}", *args.overrides])
        lists = experiment.source_lists(seed_cfg.data, args.cache, False)
        listener = RunFolder(folders["audio"], writable=False).load_stage("teacher")
        split = coarse_data(seed_cfg, lists, args.cache, listener, False)
        truth = experiment.test_truth(split, lists, seed_cfg.data.dataset)
        kinds = episode_kinds(seed_cfg, truth.names, [len(g) // 16 for g in truth.frame_gt])
        footage = footage_dataset(footage_list, seed_cfg, listener, args.cache)
        runs[seed] = {name: evaluate(folder, seed_cfg, split, truth, kinds, footage, scorer)
                      for name, folder in folders.items()}
        print(f"seed {seed} ({timing[seed]:.0f} s of training): " + "  ".join(
            f"{name} {stage} AUC {r['AUC']:.1f}" for name, result in runs[seed].items()
            for stage, r in result.items()), flush=True)
    summary = summarise(runs)
    verdict = judge(summary)
    args.out.mkdir(parents=True, exist_ok=True)
    footage_info = json.loads((args.out / "footage" / "footage.json").read_text())
    (args.out / "audio_seeds.json").write_text(json.dumps(
        {"runs": runs, "summary": summary, "targets": verdict, "train_seconds": timing, "footage": footage_info,
         "config": str(args.config), "overrides": args.overrides, "fusion": chosen}, indent=2) + "\n")
    print_table(summary)
    print_table(summary, "AP")
    for row in verdict:
        print(f"{'met   ' if row['met'] else 'MISSED'} {row['target']}: {row['value']}")
    return 0


def footage_dataset(footage_list: Path, cfg, model, cache: Path):
    """The held-out normal footage as a test dataset with its sound (frames and sound cached like
    the benchmark's)."""
    from tcvads_ros.training import audio_cache
    from tcvads_ros.training.experiment import class_names_of
    from tcvads_ros.training.feature_datasets import FeatureTestDataset
    from tcvads_ros.training.frame_cache import cache_frames

    size = model.backbone.cfg.input_size
    spec = audio_cache.audio_spec(cfg.data.audio)
    frames = cache_frames(footage_list, cache / "footage" / f"frames_{size}", size=(size, size), progress=False)
    sound = audio_cache.cache_audio(footage_list, cache / "footage" / f"audio_{audio_cache.rule_tag(spec)}", spec,
                                    progress=False)
    return FeatureTestDataset(frames.list_path, class_names_of(cfg.data.dataset), cfg.data.max_length,
                              arrays="frames", audio_list=sound.list_path)


if __name__ == "__main__":
    sys.exit(main())
