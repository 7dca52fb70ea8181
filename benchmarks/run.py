#!/usr/bin/env python
"""Measured speed, scaling and memory of TCVADS, side by side with what users would pick instead.

    python benchmarks/run.py [--quick] [--json results.json] [--device cpu|cuda]

Every figure is measured in this one run, repeated, interleaved with what it is compared against
(this machine may be shared and noisy: ratios are what count) and reported as median, min, max:

1. coarse_pipeline_efficiency: fps of the whole coarse streaming core (a camera-sized bgr8
   message converted by `image_convert`, resized, backbone, QACM, event state machine; every
   frame through the model) over fps of the bare ONNX Runtime forwards of the same graphs.
2. coarse_vs_vadclip_speedup: per-frame time of a VadCLIP-style detector (CLIP ViT-B/16 image
   encoder + VadCLIP's temporal head over its 256-snippet window) over ours (backbone + QACM
   over its window), both ONNX Runtime, same frames; coarse_onnxruntime_vs_torch_speedup: ours
   in torch eager over ours in ONNX Runtime.
3. Temporal scaling (paper Fig. 4): one forward over n = 250 ... 1750 at width 512 of the
   Enhanced RWKV, a global Transformer and VadCLIP's Local-Transformer + GCN, and the RWKV's
   streaming step; rwkv_vs_transformer_speedup_n1750 and rwkv_growth_250_to_1750.
4. fine_latency_s: event start to explanation (`classify_clip` on a 16-snippet clip of camera
   frames), ONNX Runtime; the torch time and the ratio ride along.
5. coarse_rss_mb / full_rss_mb: peak resident memory of a fresh process running the coarse
   stage only (torch must not be imported) / both stages (`benchmarks/memory_probe.py`).
6. streams_30fps: 30 fps camera streams one process serves, each with its own detector, with no
   frame dropped (a frame is dropped when the next one of its stream is already due).

The bundle is exported in a temporary folder from untrained default-size models with the
project's exporter (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

from benchmarks.camera import CAMERA_SIZE, camera_messages, to_frame  # noqa: E402
from benchmarks.timing import (  # noqa: E402
    REPO,
    figure,
    interleaved,
    machine_info,
    ratios,
    run_json_subprocess,
    summarize,
    time_calls,
)

FIGURE_KEYS = (
    "coarse_pipeline_efficiency",
    "coarse_vs_vadclip_speedup",
    "coarse_onnxruntime_vs_torch_speedup",
    "rwkv_vs_transformer_speedup_n1750",
    "rwkv_growth_250_to_1750",
    "fine_latency_s",
    "coarse_rss_mb",
    "full_rss_mb",
    "streams_30fps",
)
SCALING_WIDTH = 512
FINE_CLIP = 16
SMALL_CLIP = "tcvads-bench-small-clip"  # benchmarks.bundles.SMALL_CLIP, without importing torch


@dataclass(frozen=True)
class Plan:
    """How much to measure. `--quick` trades repeats and sizes for a run of under two minutes."""

    name: str
    clip_model: str  # open_clip image/text model of the fine stage (and the VadCLIP baseline)
    max_captions: int | None  # captions in the text table (None: all of config/captions.yaml)
    rounds: int  # interleaved rounds behind every coarse ratio
    frames: int  # frames per round through our coarse stage
    baseline_frames: int  # frames per round through the CLIP baseline
    lengths: tuple[int, ...]  # sequence lengths of the scaling figure
    scaling_rounds: int
    step_repeats: int  # RWKV streaming steps timed
    fine_rounds: int
    rss_repeats: int
    rss_frames: int  # frames pushed by each memory probe
    stream_seconds: float  # length of each streams trial
    stream_trials: int


FULL = Plan("full", clip_model="ViT-B-16", max_captions=None, rounds=7, frames=40,
            baseline_frames=2, lengths=tuple(range(250, 1751, 250)), scaling_rounds=7,
            step_repeats=300, fine_rounds=3, rss_repeats=3, rss_frames=120, stream_seconds=6.0,
            stream_trials=8)
QUICK = Plan("quick", clip_model=SMALL_CLIP, max_captions=6, rounds=3, frames=10,
             baseline_frames=1, lengths=(250, 1000, 1750), scaling_rounds=2, step_repeats=30,
             fine_rounds=1, rss_repeats=1, rss_frames=40, stream_seconds=2.0, stream_trials=3)


@dataclass
class Context:
    """What every section measures with: the plan, the bundle and its two backends."""

    plan: Plan
    device: str
    threads: int
    work: Path
    bundle: Any
    backend: Any  # OnnxRuntimeBackend
    torch_backend: Any  # TorchBackend
    clip_model: str

    def onnx_session(self, path: str):
        """An ONNX Runtime session with the same settings as the project's backend."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(path, options, providers=self.backend.providers)


# --------------------------------------------------------------------------------------------
# 3. Temporal scaling (paper Fig. 4)


def _torch_sync(device: str):
    import torch

    if device == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def bench_scaling(plan: Plan, device: str, out_dir: Path, docs_copy: Path | None) -> dict:
    """Time of one forward against sequence length, side by side, and the RWKV streaming step."""
    import torch

    from benchmarks.baselines import GlobalTransformer, LocalTransformerGCN
    from tcvads_ros.models.registry import create_model

    torch.manual_seed(0)
    models = {
        # The project's configuration of it (the registry's RWKVConfig, as the fine stage uses).
        "Enhanced RWKV": create_model("enhanced_rwkv", dim=SCALING_WIDTH),
        "Transformer": GlobalTransformer(SCALING_WIDTH),
        "Local Transformer + GCN": LocalTransformerGCN(SCALING_WIDTH),
    }
    models = {name: m.eval().to(device) for name, m in models.items()}
    sync = _torch_sync(device)
    times: dict[str, dict[int, list[float]]] = {name: {} for name in models}
    with torch.inference_mode():
        for n in plan.lengths:
            x = torch.randn(1, n, SCALING_WIDTH, device=device)

            def forward(model=None, x=x):
                model(x)
                sync()

            fns = {name: (lambda m=m: forward(m)) for name, m in models.items()}
            for name, samples in interleaved(fns, plan.scaling_rounds, warmup=1).items():
                times[name][n] = samples
        rwkv = models["Enhanced RWKV"]
        state = [rwkv.init_state(1, device=device)]
        token = torch.randn(1, SCALING_WIDTH, device=device)

        def step():
            state[0] = rwkv.step(token, state[0])[1]
            sync()

        step_samples = time_calls(step, repeats=plan.step_repeats, warmup=5)

    n_max, n_min = max(plan.lengths), min(plan.lengths)
    rwkv_t, trans_t = times["Enhanced RWKV"], times["Transformer"]
    speedup = figure(
        ratios(trans_t[n_max], rwkv_t[n_max]), "x", target=5.0,
        n=n_max, width=SCALING_WIDTH, device=device,
        note="time(Transformer) / time(Enhanced RWKV), one forward, batch 1, torch eager",
    )
    growth = figure(
        ratios(rwkv_t[n_max], rwkv_t[n_min]), "x", target=8.0, higher_is_better=False,
        lengths=[n_min, n_max], ideal_linear=n_max / n_min,
        note="time(Enhanced RWKV, n=1750) / time(n=250); 7 is exactly linear",
    )
    table = {
        name: {str(n): summarize(s) for n, s in per_n.items()} for name, per_n in times.items()
    }
    plot = out_dir / "fig4_scaling.png"
    _plot_scaling(times, summarize(step_samples), plot)
    if docs_copy is not None:
        docs_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plot, docs_copy)
    return {
        "rwkv_vs_transformer_speedup_n1750": speedup,
        "rwkv_growth_250_to_1750": growth,
        "_scaling": {
            "seconds_per_forward": table,
            "rwkv_step_s": summarize(step_samples),
            "models": {name: _describe(m) for name, m in models.items()},
            "plot": str(plot),
        },
    }


def _describe(model) -> str:
    params = sum(p.numel() for p in model.parameters())
    return f"{type(model).__name__}, {params / 1e6:.2f} M parameters"


def _plot_scaling(times: dict, step: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for (name, per_n), marker in zip(times.items(), "osd"):
        lengths = sorted(per_n)
        med = [summarize(per_n[n])["median"] * 1e3 for n in lengths]
        low = [m - summarize(per_n[n])["min"] * 1e3 for m, n in zip(med, lengths)]
        high = [summarize(per_n[n])["max"] * 1e3 - m for m, n in zip(med, lengths)]
        ax.errorbar(lengths, med, yerr=[low, high], marker=marker, capsize=3, label=name)
    ax.set_xlabel("sequence length N (snippets)")
    ax.set_ylabel("time per forward (ms), median, min-max")
    ax.set_title(f"Temporal modules at width {SCALING_WIDTH} (cf. TCVADS Fig. 4)")
    ax.text(0.02, 0.97, f"RWKV streaming step: {step['median'] * 1e3:.2f} ms per snippet",
            transform=ax.transAxes, va="top", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# 1. + 2. Coarse stage: pipeline efficiency, VadCLIP-style detector, torch vs ONNX Runtime


def export_vadclip_head(out_dir: Path, width: int) -> str:
    """VadCLIP's temporal head (LGT-Adapter + C-branch, random weights) as ONNX."""
    import torch

    from benchmarks.baselines import VISUAL_LENGTH, VadCLIPTemporalHead, export_onnx

    torch.manual_seed(0)
    path = str(out_dir / "vadclip_temporal_head.onnx")
    error = export_onnx(VadCLIPTemporalHead(width), {"features": torch.randn(1, VISUAL_LENGTH, width)},
                        ["scores"], path)
    if error > 1e-3:
        raise RuntimeError(f"VadCLIP head export differs from torch by {error:.2e}")
    return path


def bench_coarse(ctx: Context) -> dict:
    import numpy as np

    from benchmarks.baselines import VISUAL_LENGTH
    from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline, resize_rgb

    plan, bundle, backend, torch_backend = ctx.plan, ctx.bundle, ctx.backend, ctx.torch_backend
    m = bundle.manifest
    payloads = camera_messages(8)
    rgb = [to_frame(p, i).rgb for i, p in enumerate(payloads)]
    coarse_in = [resize_rgb(x, tuple(m.coarse_input_size))[None] for x in rgb]
    window = np.random.default_rng(0).standard_normal((1, m.window, m.feature_dim)).astype(np.float32)
    # Stride 1: every frame through backbone and QACM, so the pipeline and the bare forward
    # do the same model work.
    pipeline = TwoStagePipeline(bundle, backend, PipelineConfig(sample_every=1, score_every=1, fine=False))
    backbone_session = backend.session("coarse_backbone")
    qacm_session = backend.session("coarse_qacm")
    head = ctx.onnx_session(export_vadclip_head(ctx.work, m.fine_feature_dim))
    clip_session = backend.session("fine_image")
    clip_window = np.zeros((1, VISUAL_LENGTH, m.fine_feature_dim), dtype=np.float32)
    counter = [0]

    def streaming_core():
        for _ in range(plan.frames):
            i = counter[0]
            counter[0] += 1
            pipeline.push(to_frame(payloads[i % len(payloads)], i))

    def bare_forward():
        for i in range(plan.frames):
            backbone_session.run(None, {"frames": coarse_in[i % len(coarse_in)]})
            qacm_session.run(None, {"features": window})

    def ours_on(run):
        def detector():
            feats = window.copy()
            for i in range(plan.frames):
                x = resize_rgb(rgb[i % len(rgb)], tuple(m.coarse_input_size))[None]
                feats = np.roll(feats, -1, axis=1)
                feats[0, -1] = run("coarse_backbone", {"frames": x})["features"][0]
                run("coarse_qacm", {"features": feats})
        return detector

    def vadclip():
        for i in range(plan.baseline_frames):
            x = resize_rgb(rgb[i % len(rgb)], tuple(m.fine_input_size))[None]
            clip_window[0, :-1] = clip_window[0, 1:]
            clip_window[0, -1] = clip_session.run(None, {"frames": x})[0][0]
            head.run(None, {"features": clip_window})

    fns = {"streaming_core": streaming_core, "bare_forward": bare_forward,
           "ours_onnxruntime": ours_on(backend.run), "ours_torch": ours_on(torch_backend.run),
           "vadclip": vadclip}
    raw = interleaved(fns, plan.rounds, warmup=1)
    pipeline.close()
    per_frame = {k: [t / (plan.baseline_frames if k == "vadclip" else plan.frames) for t in v]
                 for k, v in raw.items()}
    fps = {k: summarize([1.0 / t for t in v]) for k, v in per_frame.items()}
    return {
        "coarse_pipeline_efficiency": figure(
            ratios(per_frame["bare_forward"], per_frame["streaming_core"]), "ratio", target=0.8,
            pipeline_fps=fps["streaming_core"], bare_forward_fps=fps["bare_forward"],
            camera=f"{CAMERA_SIZE[1]}x{CAMERA_SIZE[0]} bgr8", model_input=list(m.coarse_input_size),
            note="fps(image_convert + resize + backbone + QACM + events, stride 1) / "
                 "fps(bare ONNX Runtime backbone + QACM on preprocessed input)",
        ),
        "coarse_vs_vadclip_speedup": figure(
            ratios(per_frame["vadclip"], per_frame["ours_onnxruntime"]), "x", target=20.0,
            ours_ms_per_frame=_ms(per_frame["ours_onnxruntime"]),
            vadclip_ms_per_frame=_ms(per_frame["vadclip"]),
            baseline=f"open_clip {ctx.clip_model} image encoder (the bundle's fine_image graph) + "
                     f"VadCLIP temporal head over {VISUAL_LENGTH} snippets, ONNX Runtime",
            note="per-frame time(VadCLIP-style) / time(ours: backbone + QACM window), both ONNX "
                 "Runtime, both from the same RGB camera frames (resize included)",
        ),
        "coarse_onnxruntime_vs_torch_speedup": figure(
            ratios(per_frame["ours_torch"], per_frame["ours_onnxruntime"]), "x",
            torch_ms_per_frame=_ms(per_frame["ours_torch"]),
            onnxruntime_ms_per_frame=_ms(per_frame["ours_onnxruntime"]),
            note="per-frame time(torch eager) / time(ONNX Runtime), same graphs and frames",
        ),
    }


def _ms(samples: list[float]) -> dict:
    return {k: v * 1e3 for k, v in summarize(samples).items()}


# --------------------------------------------------------------------------------------------
# 4. Fine stage latency


def bench_fine(ctx: Context) -> dict:
    from tcvads_ros.runtime.pipeline import classify_clip

    payloads = camera_messages(FINE_CLIP, seed=1)
    clip = [to_frame(p, i * 16) for i, p in enumerate(payloads)]
    fns = {
        "onnxruntime": lambda: classify_clip(ctx.bundle, ctx.backend, clip),
        "torch": lambda: classify_clip(ctx.bundle, ctx.torch_backend, clip),
    }
    samples = interleaved(fns, ctx.plan.fine_rounds, warmup=1)
    return {
        "fine_latency_s": figure(
            samples["onnxruntime"], "s", higher_is_better=False,
            torch_s=summarize(samples["torch"]),
            onnxruntime_vs_torch_speedup=summarize(ratios(samples["torch"], samples["onnxruntime"])),
            clip_snippets=FINE_CLIP, image_encoder=ctx.clip_model,
            note="event start to explanation: classify_clip on 16 camera frames (resize, CLIP "
                 "image encoder, caption retrieval, RWKV temporal head), ONNX Runtime; torch_s "
                 "is the same through the torch backend",
        )
    }


# --------------------------------------------------------------------------------------------
# 5. Memory


def bench_memory(ctx: Context) -> dict:
    results = {}
    for stage, key in (("coarse", "coarse_rss_mb"), ("full", "full_rss_mb")):
        samples, probes = [], []
        for _ in range(ctx.plan.rss_repeats):
            probe = run_json_subprocess(
                ["benchmarks/memory_probe.py", str(ctx.bundle.root), "--stage", stage,
                 "--frames", str(ctx.plan.rss_frames), "--threads", str(ctx.threads)],
                timeout=600,
            )
            samples.append(probe["peak_rss_mb"])
            probes.append(probe)
        results[key] = figure(
            samples, "MiB", higher_is_better=False,
            torch_imported=any(p["torch_imported"] for p in probes),
            frames=ctx.plan.rss_frames, explanations=probes[-1]["explanations"],
            peak_after_bundle_load_mb=summarize([p["peak_after_bundle_load_mb"] for p in probes]),
            rss_at_end_mb=summarize([p["rss_at_end_mb"] for p in probes]),
            note=probes[-1]["note"],
        )
    return results


# --------------------------------------------------------------------------------------------
# 6. Streams


STREAM_QUEUE = 3  # frames a stream may have waiting (100 ms at 30 fps) before the oldest drops


def stream_trial(ctx: Context, streams: int, seconds: float, warmup_s: float = 1.0) -> dict:
    """`streams` paced 30 fps cameras served by one thread, each with a queue of STREAM_QUEUE
    frames: a frame is dropped when STREAM_QUEUE newer frames of its stream have arrived before
    it is processed (one backbone run takes longer than a frame period on a busy CPU, so a
    depth-1 queue would measure latency jitter rather than capacity)."""
    from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline

    period = 1.0 / 30.0
    payloads = camera_messages(4, seed=2)
    pipes = [TwoStagePipeline(ctx.bundle, ctx.backend, PipelineConfig(fine=False)) for _ in range(streams)]
    offsets = [period * s / streams for s in range(streams)]
    next_index = [0] * streams
    processed = dropped = 0
    start = time.perf_counter()
    while True:
        s = min(range(streams), key=lambda k: offsets[k] + next_index[k] * period)
        due = start + offsets[s] + next_index[s] * period
        if due - start > seconds:
            break
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
            now = time.perf_counter()
        newest = int((now - start - offsets[s]) / period)  # the newest frame this camera has sent
        i = max(next_index[s], newest - STREAM_QUEUE + 1)
        if due - start >= warmup_s:
            dropped += i - next_index[s]
            processed += 1
        pipes[s].push(to_frame(payloads[i % len(payloads)], i))
        next_index[s] = i + 1
    for p in pipes:
        p.close()
    return {"streams": streams, "processed": processed, "dropped": dropped}


def bench_streams(ctx: Context) -> dict:
    """Largest number of streams with no dropped frame (binary search under an estimate)."""
    from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline

    payloads = camera_messages(4, seed=3)
    probe = TwoStagePipeline(ctx.bundle, ctx.backend, PipelineConfig(fine=False))
    index = [0]

    def one_second_of_stream():
        for _ in range(30):
            probe.push(to_frame(payloads[index[0] % 4], index[0]))
            index[0] += 1

    cost = summarize(time_calls(one_second_of_stream, repeats=3, warmup=1))["median"]
    probe.close()
    # Binary search between 0 (always sustained) and the unpaced estimate + 1 (the paced
    # capacity is lower: one thread also has to wait out every other stream's backbone run).
    low, high = 0, max(1, int(1.0 / cost)) + 1
    trials: list[dict] = []
    while high - low > 1 and len(trials) < ctx.plan.stream_trials:
        streams = (low + high) // 2
        trial = stream_trial(ctx, streams, ctx.plan.stream_seconds)
        trials.append(trial)
        if trial["dropped"] == 0:
            low = streams
        else:
            high = streams
    best = low
    sample_every = ctx.bundle.manifest.snippet_frames
    return {
        "streams_30fps": figure(
            [float(best)], "streams",
            estimate_from_cost=1.0 / cost, seconds_of_video_per_second=1.0 / cost, trials=trials,
            queue_frames=STREAM_QUEUE,
            note=f"bundle defaults (one backbone run per {sample_every} frames, QACM every "
                 "snippet); every frame converted from a 1280x720 bgr8 message; one thread; "
                 f"a stream drops a frame when {STREAM_QUEUE} newer ones arrived before it was "
                 "processed",
        )
    }


# --------------------------------------------------------------------------------------------
# The run


def summary_table(results: dict) -> str:
    rows = [("figure", "median", "min .. max", "unit", "target", "met")]
    for key in FIGURE_KEYS:
        f = results[key]
        target = "" if "target" not in f else ("≥ " if f["target_is"] == "minimum" else "≤ ") + _num(f["target"])
        met = "" if "met" not in f else ("yes" if f["met"] else "NO")
        rows.append((key, _num(f["median"]), f"{_num(f['min'])} .. {_num(f['max'])}", f["unit"], target, met))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats, a 2-layer CLIP instead of ViT-B/16, fewer sizes: under two minutes, "
                             "for CI; the figures are not comparable with a full run")
    parser.add_argument("--json", type=Path, default=Path("results.json"),
                        help="where to write the results (the Fig. 4 plot goes next to it)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: ONNX Runtime's CUDA provider and torch on the GPU, where present")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads of ONNX Runtime and torch (default: usable cores, at most "
                             "4; 1 with --quick)")
    parser.add_argument("--docs", action="store_true",
                        help="also copy the Fig. 4 plot to docs/images/fig4_scaling.png")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    # --quick is for shared CI runners: one thread is faster there than two that wait on each
    # other (docs/performance.md); a full run uses the backend's default unless told.
    threads = args.threads or (1 if args.quick else min(4, len(os.sched_getaffinity(0))))
    import torch

    torch.set_num_threads(threads)
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device here; measuring on the CPU", file=sys.stderr)
        device = "cpu"
    out_dir = args.json.resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine_info()}
    results["run"] = {"plan": asdict(plan), "device": device, "threads": threads,
                      "command": " ".join(["python", "benchmarks/run.py", *(argv or sys.argv[1:])])}
    if args.quick:
        print("QUICK run: fewer repeats, a 2-layer CLIP instead of ViT-B/16, 3 sequence lengths, "
              f"{threads} thread(s); "
              "for checking that everything runs, not for comparing figures.", file=sys.stderr)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tcvads_bench_") as tmp:
        from benchmarks.bundles import register_small_clip, untrained_bundle
        from tcvads_ros.runtime.backends import create_backend

        _progress(started, "exporting an untrained default-size bundle")
        if plan.clip_model == SMALL_CLIP:
            register_small_clip(Path(tmp) / "clip_configs")
        bundle = untrained_bundle(Path(tmp), clip_model=plan.clip_model, max_captions=plan.max_captions)
        ctx = Context(
            plan=plan, device=device, threads=threads, work=Path(tmp), bundle=bundle,
            backend=create_backend("onnxruntime", bundle, device=device, threads=threads),
            torch_backend=create_backend("torch", bundle, device=device),
            clip_model=plan.clip_model,
        )
        sections = (
            ("coarse stage: pipeline, ONNX Runtime, torch, VadCLIP-style baseline", bench_coarse),
            ("fine stage latency", bench_fine),
            ("temporal scaling (Fig. 4)", lambda c: bench_scaling(
                c.plan, c.device, out_dir, REPO / "docs/images/fig4_scaling.png" if args.docs else None)),
            ("peak memory in fresh processes", bench_memory),
            ("30 fps streams", bench_streams),
        )
        for title, section in sections:
            _progress(started, title)
            results.update(section(ctx))
        ctx.backend.close()
    results["run"]["seconds"] = time.perf_counter() - started
    results = {k: results[k] for k in ("machine", "run", *FIGURE_KEYS, *sorted(
        k for k in results if k.startswith("_")))}
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    m = results["machine"]
    print(f"\n{m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), device {device}, "
          f"{threads} threads, {plan.name} run in {results['run']['seconds']:.0f} s")
    print(summary_table(results))
    print(f"\nwrote {args.json} and {out_dir / 'fig4_scaling.png'}")
    return 0


def _progress(started: float, what: str) -> None:
    print(f"[{time.perf_counter() - started:6.1f} s] {what}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
