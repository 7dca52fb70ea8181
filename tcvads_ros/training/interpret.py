# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Interpretability of a trained run (paper §V.E): heat maps, feature maps, surrogate fidelity.

``python training/interpret.py RUN_DIR --out OUT_DIR [--data PATH] [--videos N] [--samples S]``

Writes into OUT_DIR:

- ``fig7_heatmaps_<k>.png``  per explained abnormal clip: its frames, the teacher's heat maps
  ("before distillation") and the distilled student's ("after"), Fig. 7 (tcvads_ros/training/heatmap_figures.py);
- ``fig6_heatmaps.png``      the student's heat maps of every explained abnormal clip, Fig. 6;
- ``fig8_tsne.png``          t-SNE of the fine stage's and of plain CLIP's features, Fig. 8
  (tcvads_ros/training/feature_maps.py);
- ``interpretability.json``  the surrogate R² of the coarse and the fine stage per clip and
  averaged (Table IX; tcvads_ros/training/surrogate.py), the paper's values beside them, the heat maps'
  localisation scores (synthetic data) and t-SNE scores, Exp. (7)'s gradient comparison of each
  coarse backbone (``gradient_bound``: per stage, the squared Frobenius norms of the
  convolution's and the deconvolution's Jacobian with respect to the input pixels;
  tcvads_ros/training/gradient_bound.py), and every setting used.

Data: without ``--data`` the run's own validation videos (the split training held out; its test
videos when it held none). ``--data`` takes a `tcvads synth` folder (its test split and
annotations) or a CSV ``path,label`` list of videos or of ``.npy`` features, with
``--annotations`` (XD ``annotations_multiclasses.txt`` / UCF temporal annotations) for the
ground truth. Videos are cached under OUT_DIR/cache at the models' input sizes.

Explained clips: ``--videos N`` videos drawn with ``--seed`` from the data; each clip is a window
of at most ``--snippets`` snippets (centred on the first annotated anomaly, else on the video's
middle). The surrogate's interpretable features are the clip's snippets and, for a coarse model
on frames, the cells of a ``--grid`` × ``--grid`` grid (``--coarse-parts``); a part switched off
is replaced by a Gaussian blur (σ = input size / 8) of the frame for the coarse stage and by
the clip's mean CLIP feature for the fine stage. Targets: coarse = the student's clip-level
anomaly probability (mean of the top ⌊W/16⌋+1 snippet probabilities, the MIL score it is
trained on); fine = the clip-level probability (softmax of the top-k mean logits) of the class
the fine stage predicts for the unperturbed clip, with caption retrieval re-run on every
perturbed clip.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from tcvads_ros.data.annotations import SNIPPET_FRAMES
from tcvads_ros.errors import DataError
from tcvads_ros.progress import progress_bar
from tcvads_ros.training import (
    feature_datasets,
    feature_maps,
    frame_cache,
    gradient_bound,
    heatmap_figures,
    losses,
    resampling,
)
from tcvads_ros.training.coarse import input_fn
from tcvads_ros.training.entry import script_main
from tcvads_ros.training.interpret_data import (
    Videos,
    anomalies,
    choose,
    clip_window,
    given_data,
    load_models,
    own_validation_data,
)
from tcvads_ros.training.run_folder import RunFolder, pick_device, seed_everything
from tcvads_ros.training.surrogate import SurrogateConfig, explain, mean_r2
from tcvads_ros.training.train_config import load_config
from tcvads_ros.training.trainer import Context

PAPER_TABLE_IX = {"coarse": 64.8, "fine": 53.7}  # R² × 100, TCVADS on XD-Violence
BLUR_SIGMA_SHARE = 1 / 8  # blur σ of a switched-off part, as a share of the input size


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """The options of ``python training/interpret.py`` and ``tcvads interpret`` (the same command)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run", type=Path, metavar="RUN_DIR", help="a training run folder (training/train.py)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--data", type=Path, help="tcvads synth folder or CSV list (default: the run's "
                                                  "validation videos)")
    parser.add_argument("--annotations", type=Path, help="class segments of --data's videos")
    parser.add_argument("--videos", type=_positive, default=8, help="clips to explain (default 8)")
    parser.add_argument("--samples", type=int, default=1000, help="perturbations per clip and stage "
                                                                  "(default 1000)")
    parser.add_argument("--snippets", type=_positive, default=32, help="longest clip in snippets (default 32)")
    parser.add_argument("--grid", type=_positive, default=4, help="grid cells per side of the frame regions")
    parser.add_argument("--coarse-parts", choices=("snippets", "regions", "both"), default="both",
                        help="what the coarse surrogate switches off (frames-mode models)")
    parser.add_argument("--columns", type=_positive, default=6, help="frames per heat-map figure row")
    parser.add_argument("--kernel-width", type=float, default=0.25, help="LIME kernel width")
    parser.add_argument("--alpha", type=float, default=0.0, help="Ridge alpha of the surrogate "
                                                                 "(0: least squares; LIME: 1)")
    parser.add_argument("--probes", type=_positive, default=8,
                        help="Hutchinson probes per map for Exp. (7)'s Jacobian norms (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """``python training/interpret.py ...``: the same as ``tcvads interpret ...``."""
    return script_main("training/interpret.py", __doc__, configure_parser, run, argv)


def run(args: argparse.Namespace) -> int:
    result = interpret(args)
    for stage, paper in PAPER_TABLE_IX.items():
        if stage in result["surrogate_r2"]:
            print(f"surrogate R² x100, {stage}: {result['surrogate_r2'][stage]['mean_x100']:.1f} "
                  f"(paper Table IX: {paper})")
    for stage, bound in result.get("gradient_bound", {}).items():
        if isinstance(bound, dict) and "stages" in bound:
            ratios = ", ".join(f"{s['ratio']:.2f}" for s in bound["stages"])
            print(f"Exp. (7), {stage}: ‖∂F_A/∂f‖² > ‖∂F_C/∂f‖² at {bound['holds_at_stages']} of "
                  f"{bound['of_stages']} stages (ratios {ratios}); {gradient_bound.WHAT_IT_SHOWS}")
    print(f"written to {args.out}")
    return 0


# --------------------------------------------------------------------------- heat maps


def _snippet_frames(path: Path) -> np.ndarray:
    """The video's snippet frames (frame s·16 of snippet s) at its own size, RGB uint8."""
    return np.stack(list(frame_cache.sample_snippet_frames(path)))


def explain_heatmaps(args: argparse.Namespace, models: dict, videos: Videos, chosen: list[str],
                     device: torch.device, bar: tqdm) -> dict:
    """Fig. 7 per abnormal clip (frames, teacher, student), Fig. 6 (the student's, all clips)
    and, on synthetic data, how well each heat map finds the drawn anomaly."""
    rows = [(label, models[stage].backbone) for stage, label in
            (("teacher", "teacher\n(before KD)"), ("student", "student\n(after KD)"))
            if stage in models and models[stage].backbone is not None]
    clips = [n for n in chosen if anomalies(videos, n) and n in videos.sources]
    if not rows or not clips:
        return {"skipped": "needs coarse models on frames and abnormal videos with annotations"}
    found = {label.split("\n")[0]: [] for label, _ in rows}
    summary, overview = [], []
    bar.total += len(clips)
    for k, name in enumerate(clips):
        frames = _snippet_frames(videos.sources[name])
        start, end = clip_window(videos, name, len(frames), args.snippets)
        classes = feature_maps.snippet_classes(len(frames), *videos.truth[name])
        scored = [s for s in range(start, end) if classes[s] != feature_datasets.NORMAL]
        if not scored:
            continue
        shown = sorted(set(np.linspace(0, len(scored) - 1, min(args.columns, len(scored)))
                           .round().astype(int).tolist()))
        columns = [scored[i] for i in shown]
        regions = None
        if videos.synthetic is not None:
            synth, plans = videos.synthetic
            regions = heatmap_figures.synthetic_anomaly_masks(plans[name], synth,
                                                       [s * SNIPPET_FRAMES for s in scored])
        cams = {label: heatmap_figures.backbone_cams(backbone, frames[scored], device)
                for label, backbone in rows}
        for label, cam in cams.items():
            if regions is not None:
                found[label.split("\n")[0]] += [f for f in map(heatmap_figures.localise, cam, regions) if f]
        outline = None if regions is None else regions[shown]
        figure_rows = [heatmap_figures.HeatmapRow("frames", frames[columns], regions=outline)]
        figure_rows += [heatmap_figures.HeatmapRow(label, frames[columns], cams[label][shown], outline)
                        for label, _ in rows]
        titles = [f"snippet {s} ({classes[s]})" for s in columns]
        path = heatmap_figures.heatmap_figure(args.out / f"fig7_heatmaps_{k}.png", figure_rows, titles,
                                       f"{name}: heat maps before and after distillation")
        overview.append(heatmap_figures.HeatmapRow(f"{name.split('__')[0]}\n{classes[columns[0]]}",
                                            frames[columns], cams[rows[-1][0]][shown],
                                            None if regions is None else regions[shown]))
        summary.append({"video": name, "figure": path.name, "snippets": columns,
                        "cam_size": list(cams[rows[-1][0]].shape[1:]), "frame_size": list(frames.shape[1:3])})
        bar.update(1)
    if not summary:
        return {"skipped": "no annotated anomaly inside the explained clips"}
    heatmap_figures.heatmap_figure(args.out / "fig6_heatmaps.png", overview, [],
                            f"{rows[-1][0].splitlines()[0]} heat maps of abnormal clips")
    result = {"figures": ["fig6_heatmaps.png", *[s["figure"] for s in summary]], "clips": summary}
    if videos.synthetic is not None:
        result["localisation"] = {stage: heatmap_figures.summarise(f) for stage, f in found.items()}
    return result


# --------------------------------------------------------------------------- Exp. (7)


def explain_gradient_bound(args: argparse.Namespace, models: dict, videos: Videos, chosen: list[str],
                           device: torch.device) -> dict:
    """Exp. (7) on each coarse backbone, on up to four snippet frames (evenly spaced) of each
    explained video."""
    names = [n for n in chosen if n in videos.sources]
    backbones = {stage: models[stage].backbone for stage in ("teacher", "student")
                 if stage in models and getattr(models[stage], "backbone", None) is not None}
    if not backbones or not names:
        return {"skipped": "needs coarse models on frames and video files"}
    frames = []
    for name in names:
        snippets = _snippet_frames(videos.sources[name])
        picked = np.unique(np.linspace(0, len(snippets) - 1, min(4, len(snippets))).round().astype(int))
        frames += list(snippets[picked])
    result = {"what_it_shows": gradient_bound.WHAT_IT_SHOWS, "videos": names}
    for stage, backbone in backbones.items():
        result[stage] = gradient_bound.measure_frames(backbone, np.stack(frames), args.probes, args.seed,
                                                      device)
    return result


# --------------------------------------------------------------------------- surrogates


def coarse_predictor(model: torch.nn.Module, clip: np.ndarray, parts: str, grid: int,
                     device: torch.device):
    """(predict(masks) -> clip anomaly probabilities, number of parts) for a coarse model.

    Frames (W, s, s, 3): parts are the W snippets and/or grid × grid cells; a switched-off part
    is the Gaussian-blurred frame (σ = s / 8). Features (W, D): parts are the snippets; a
    switched-off snippet is the clip's mean feature. Output: top-k mean snippet probability.
    """
    to_input = input_fn(model, device)
    width = len(clip)
    lengths = None
    if model.backbone is None:
        mean = clip.mean(axis=0, keepdims=True)

        def perturb(masks: np.ndarray) -> np.ndarray:
            return np.where(masks[:, :, None].astype(bool), clip[None], mean[None]).astype(np.float32)
        n_parts = width
    else:
        size = clip.shape[1]
        blurred = np.stack([cv2.GaussianBlur(f, (0, 0), size * BLUR_SIGMA_SHARE) for f in clip])
        rows = np.arange(size) * grid // size
        cell = rows[:, None] * grid + rows[None, :]  # (s, s) grid cell of each pixel
        use_snippets, use_cells = parts in ("snippets", "both"), parts in ("regions", "both")
        n_parts = width * use_snippets + grid * grid * use_cells

        def perturb(masks: np.ndarray) -> np.ndarray:
            n = len(masks)
            keep_snippet = masks[:, :width] if use_snippets else np.ones((n, width), np.uint8)
            keep_cell = masks[:, -grid * grid:] if use_cells else np.ones((n, grid * grid), np.uint8)
            keep = keep_snippet[:, :, None, None] * keep_cell[:, cell][:, None]  # (n, W, s, s)
            return np.where(keep[..., None].astype(bool), clip[None], blurred[None])

    def predict(masks: np.ndarray) -> np.ndarray:
        nonlocal lengths
        x = torch.from_numpy(perturb(masks)).to(device)
        probs = torch.sigmoid(model(to_input(x)))
        if lengths is None or len(lengths) != len(probs):
            lengths = torch.full((len(probs),), width, device=device)
        return losses.topk_mean(probs, lengths).float().cpu().numpy()

    return predict, n_parts


def fine_predictor(model: torch.nn.Module, clip: np.ndarray, top_m: int, device: torch.device):
    """(predict(masks) -> clip probability of the predicted class, number of parts).

    Parts are the W snippets; a switched-off snippet is the clip's mean CLIP feature. Captions
    are retrieved again for every perturbed clip; class text features follow the edge rule.
    """
    feats = torch.from_numpy(clip).float().to(device)
    mean = feats.mean(dim=0, keepdim=True)
    bank = model.caption_embeddings()
    texts: dict[tuple[int, ...], torch.Tensor] = {}

    def video_probs(batch: torch.Tensor) -> torch.Tensor:
        keys = [tuple(model.retrieve_captions(f, top_m, bank)[0].tolist()) for f in batch]
        for key in set(keys) - texts.keys():
            texts[key] = model.text_features(torch.tensor(key, device=device)[None])[0]
        return model(batch, torch.stack([texts[key] for key in keys]))["video_probs"]

    target = int(video_probs(feats[None])[0].argmax())

    def predict(masks: np.ndarray) -> np.ndarray:
        keep = torch.from_numpy(masks).to(device).bool()[:, :, None]
        return video_probs(torch.where(keep, feats[None], mean[None]))[:, target].float().cpu().numpy()

    predict.explained = f"P({model.class_names[target]})"
    return predict, len(clip)


def explain_surrogates(args: argparse.Namespace, models: dict, infos: dict, videos: Videos,
                       chosen: list[str], surrogate: SurrogateConfig, device: torch.device,
                       bar: tqdm) -> dict:
    """Table IX: the surrogate R² of the coarse student and of the fine stage on every clip."""
    stages = []
    coarse = models.get("student") or models.get("teacher")
    if coarse is not None and videos.coarse is not None:
        stages.append(("coarse", videos.coarse,
                       lambda clip: coarse_predictor(coarse, clip, args.coarse_parts, args.grid, device)))
    if "fine" in models and videos.fine is not None:
        top_m = models["fine"].cfg.top_m
        stages.append(("fine", videos.fine, lambda clip: fine_predictor(models["fine"], clip, top_m, device)))
    bar.total += len(stages) * len(chosen) * args.samples
    result = {}
    for stage, dataset, predictor in stages:
        per_video = []
        for k, name in enumerate(chosen):
            x = dataset.load(videos.index(dataset, name))
            start, end = clip_window(videos, name, len(x), args.snippets)
            predict, n_parts = predictor(x[start:end])
            fit = explain(predict, n_parts, surrogate, np.random.default_rng([args.seed, k]), bar.update)
            per_video.append({"video": name, "snippets": [start, end], "parts": n_parts, "r2": fit.r2,
                              "target": getattr(predict, "explained", "P(anomaly)"),
                              "output": float(fit.outputs[0]), "output_std": float(fit.outputs.std())})
        mean = mean_r2([v["r2"] for v in per_video])
        result[stage] = {"mean": mean, "mean_x100": 100 * mean, "per_video": per_video}
    result["coarse_model"] = "student" if "student" in models else "teacher"
    return result


# --------------------------------------------------------------------------- feature maps


def _classes(videos: Videos, name: str, label: str, length: int, class_names: list[str]) -> list[str]:
    """Per-snippet classes from the ground truth; without it, the video's first label."""
    if name in videos.truth:
        return feature_maps.snippet_classes(length, *videos.truth[name])
    target = feature_datasets.label_target(label, class_names)
    abnormal = [class_names[c] for c in np.flatnonzero(target) if class_names[c] != feature_datasets.NORMAL]
    return [abnormal[0] if abnormal else feature_datasets.NORMAL] * length


def explain_feature_maps(args: argparse.Namespace, models: dict, infos: dict, videos: Videos,
                         device: torch.device, bar: tqdm) -> dict:
    """Fig. 8: t-SNE of the fine stage's features and of plain CLIP's, every video of the data."""
    if "fine" not in models or videos.fine is None:
        return {"skipped": "the run has no fine stage"}
    model, dataset = models["fine"], videos.fine
    top_m = model.cfg.top_m
    bank = model.caption_embeddings()
    trained, plain, classes, text = [], [], [], []
    bar.total += len(dataset)
    for i, entry in enumerate(dataset.entries):
        x = dataset.load(i)
        chunks, _ = resampling.chunk(x, dataset.length)
        video = model.temporal(torch.from_numpy(chunks).float().to(device))
        trained.append(resampling.unchunk(F.normalize(video, dim=-1).cpu().numpy(), len(x)))
        plain.append(x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12))
        indices = model.retrieve_captions(torch.from_numpy(x).float().to(device), top_m, bank)[0]
        text.append(model.text_features(indices[None])[0].cpu().numpy())
        classes += _classes(videos, entry.name, entry.label, len(x), model.class_names)
        bar.update(1)
    keep = np.sort(np.random.default_rng(args.seed).permutation(len(classes))[:MAX_TSNE_POINTS])
    class_text = np.mean(text, axis=0)
    sets = [feature_maps.FeatureSet("CLIP (class-name prompts, no temporal model)",
                                    np.concatenate(plain)[keep], [classes[i] for i in keep],
                                    feature_maps.plain_clip_text(model, model.class_names),
                                    model.class_names),
            feature_maps.FeatureSet("TCVADS fine stage", np.concatenate(trained)[keep],
                                    [classes[i] for i in keep],
                                    class_text / np.linalg.norm(class_text, axis=1, keepdims=True),
                                    model.class_names)]
    feature_maps.feature_map_figure(args.out / "fig8_tsne.png", sets, args.seed)
    return {"figure": "fig8_tsne.png", "videos": len(dataset),
            "clip": sets[0].scores(), "tcvads": sets[1].scores(), "prompt": feature_maps.PLAIN_PROMPT}


# --------------------------------------------------------------------------- run


MAX_TSNE_POINTS = 3000  # snippets drawn (seeded) when the data has more


@torch.no_grad()
def interpret(args: argparse.Namespace) -> dict:
    """Explain the run in ``args.run`` into ``args.out``; returns what interpretability.json holds."""
    config = args.run / "config.yaml"
    if not config.is_file():
        raise DataError(f"{config}: not found; RUN_DIR must be a training run folder")
    cfg = load_config(config)
    device = pick_device(args.device)
    seed_everything(args.seed)
    models, infos = load_models(args.run)
    models = {k: m.to(device) for k, m in models.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    ctx = Context(RunFolder(args.run, writable=False), device, cfg.seed, progress=not args.no_progress)
    if args.data is None:
        videos = own_validation_data(cfg, args.run, models, ctx)
    else:
        videos = given_data(args.data, args.annotations, cfg, models, args.out, ctx)
    chosen = choose(videos, args.videos, args.seed)
    surrogate = SurrogateConfig(samples=args.samples, kernel_width=args.kernel_width, alpha=args.alpha)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if k not in ("run", "out", "no_progress")}
    result = {"run": str(args.run), "data": videos.description, "videos": chosen,
              "settings": {**settings, "surrogate": asdict(surrogate),
                           "blur_sigma": f"input size x {BLUR_SIGMA_SHARE}"}}
    with progress_bar(total=0, desc="interpret", unit="step", show=not args.no_progress) as bar:
        result["heatmaps"] = explain_heatmaps(args, models, videos, chosen, device, bar)
        result["gradient_bound"] = explain_gradient_bound(args, models, videos, chosen, device)
        result["surrogate_r2"] = explain_surrogates(args, models, infos, videos, chosen, surrogate,
                                                    device, bar)
        result["surrogate_r2"]["paper_table_ix_x100"] = PAPER_TABLE_IX
        result["feature_maps"] = explain_feature_maps(args, models, infos, videos, device, bar)
    (args.out / "interpretability.json").write_text(json.dumps(_plain(result), indent=2) + "\n",
                                                    encoding="utf-8")
    return result


def _plain(value):
    """JSON-ready: NaN -> null, numpy scalars -> Python numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value

