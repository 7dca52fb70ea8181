#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Measured speed, scaling and memory of TCVADS, side by side with what users would pick instead.

    python -m benchmarks.run [--quick] [--json results.json] [--device cpu|cuda]

Every figure is measured in this one run, repeated, interleaved with what it is compared against
(this machine may be shared and noisy: ratios are what count) and reported as median, min, max:

1. coarse_pipeline_efficiency: fps of the whole coarse streaming core (a camera-sized bgr8
   message converted by `image_convert`, resized, backbone, QACM, event state machine; every
   frame through the model) over fps of the bare ONNX Runtime forwards of the same graphs.
2. coarse_vs_vadclip_speedup: per-frame time of a VadCLIP-style detector (CLIP ViT-B/16 image
   encoder + VadCLIP's temporal head over its 256-snippet window) over ours (backbone + QACM
   over its window), both ONNX Runtime, same frames, against the ratio of their FLOPs;
   coarse_onnxruntime_vs_torch_speedup: ours in torch eager over ours in ONNX Runtime.
3. Temporal scaling (paper Fig. 4): one forward over n = 250 ... 1750 at width 512 of the
   Enhanced RWKV, a global Transformer and VadCLIP's Local-Transformer + GCN, and the RWKV's
   streaming step; rwkv_time_over_projections (the RWKV over its own projection products),
   rwkv_vs_transformer_speedup_n8192 (against their multiply-add ratio) and
   rwkv_growth_250_to_1750.
4. fine_latency_s: event start to explanation (`classify_clip` on a 16-snippet clip of camera
   frames), ONNX Runtime as deployed; fine_onnxruntime_vs_torch_speedup: the same graphs on
   ONNX Runtime and torch with equal threads, with the GFLOP/s each achieves and a plain
   matmul's.
5. coarse_rss_mb / full_rss_mb: peak resident memory of a fresh process running the coarse
   stage only (torch must not be imported) / both stages (`benchmarks/memory_probe.py`).
6. streams_30fps: 30 fps camera streams one process serves (`MultiStreamPipeline`: a detector
   per stream, backbone calls batched), no frame older than 100 ms when processed, against the
   unpaced throughput bound measured in the same run.

The bundle is exported in a temporary folder from untrained default-size models with the
project's exporter (speed does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.camera import CAMERA_SIZE, camera_messages, to_frame
from benchmarks.timing import (
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
    "rwkv_time_over_projections",
    "rwkv_vs_transformer_speedup_n8192",
    "rwkv_growth_250_to_1750",
    "fine_latency_s",
    "fine_onnxruntime_vs_torch_speedup",
    "coarse_rss_mb",
    "full_rss_mb",
    "streams_30fps",
)
SCALING_WIDTH = 512
LONG_N = 8192  # where the Transformer's n² term dominates (rwkv_vs_transformer_speedup_n8192)
PROJECTIONS = "RWKV projections alone"
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
    long_rounds: int  # rounds at n = LONG_N
    step_repeats: int  # RWKV streaming steps timed
    fine_rounds: int
    rss_repeats: int
    rss_frames: int  # frames pushed by each memory probe
    stream_seconds: float  # length of each streams trial
    stream_trials: int


FULL = Plan("full", clip_model="ViT-B-16", max_captions=None, rounds=7, frames=40,
            baseline_frames=2, lengths=tuple(range(250, 1751, 250)), scaling_rounds=7, long_rounds=3,
            step_repeats=300, fine_rounds=3, rss_repeats=3, rss_frames=120, stream_seconds=6.0,
            stream_trials=8)
QUICK = Plan("quick", clip_model=SMALL_CLIP, max_captions=6, rounds=3, frames=10,
             baseline_frames=1, lengths=(250, 1000, 1750), scaling_rounds=2, long_rounds=1, step_repeats=30,
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


def count_flops_with_attention(fn) -> int:
    """FLOPs of `fn()` (2 per multiply-add), attention included: torch's fused multi-head
    attention and its CPU flash-attention kernel are invisible to FlopCounterMode, so while
    counting attention runs as plain matrix products (the same multiply-adds)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from tcvads_ros.models.complexity import count_flops

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            return count_flops(fn)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def bench_scaling(plan: Plan, device: str, out_dir: Path, docs_copy: Path | None) -> dict:
    """Time of one forward against sequence length, side by side, and the RWKV streaming step.

    Beside each RWKV forward, interleaved, the RWKV's own projection matrix products alone (the
    K, V, R and output weights of every block on an (n, width) input): the physical floor of
    its forward, against which the WKV scan's cost is read (rwkv_time_over_projections). At
    n = LONG_N, where the Transformer's n² attention dominates, RWKV against Transformer with
    the ratio of their counted multiply-adds as the bound.
    """
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
    rwkv = models["Enhanced RWKV"]
    linears = [lin for b in rwkv.blocks for lin in (b.key, b.value, b.receptance, b.output)]
    sync = _torch_sync(device)
    times: dict[str, dict[int, list[float]]] = {name: {} for name in [*models, PROJECTIONS]}
    with torch.inference_mode():
        for n in plan.lengths:
            x = torch.randn(1, n, SCALING_WIDTH, device=device)

            def forward(model=None, x=x):
                model(x)
                sync()

            def projections(x=x):
                for linear in linears:
                    linear(x)
                sync()

            fns = {name: (lambda m=m: forward(m)) for name, m in models.items()}
            fns[PROJECTIONS] = projections
            for name, samples in interleaved(fns, plan.scaling_rounds, warmup=1).items():
                times[name][n] = samples
        x_long = torch.randn(1, LONG_N, SCALING_WIDTH, device=device)
        pair = {name: models[name] for name in ("Enhanced RWKV", "Transformer")}
        long = interleaved({name: (lambda m=m: (m(x_long), sync())) for name, m in pair.items()},
                           plan.long_rounds, warmup=1)
        state = [rwkv.init_state(1, device=device)]
        token = torch.randn(1, SCALING_WIDTH, device=device)

        def step():
            state[0] = rwkv.step(token, state[0])[1]
            sync()

        step_samples = time_calls(step, repeats=plan.step_repeats, warmup=5)
    flops = {name: count_flops_with_attention(lambda m=m: m(x_long)) for name, m in pair.items()}
    mac_ratio = flops["Transformer"] / flops["Enhanced RWKV"]

    n_max, n_min = max(plan.lengths), min(plan.lengths)
    rwkv_t, trans_t = times["Enhanced RWKV"], times["Transformer"]
    over = {n: ratios(rwkv_t[n], times[PROJECTIONS][n]) for n in plan.lengths}
    worst = max(plan.lengths, key=lambda n: summarize(over[n])["median"])
    growth = figure(
        ratios(rwkv_t[n_max], rwkv_t[n_min]), "x", target=8.0, higher_is_better=False,
        lengths=[n_min, n_max], ideal_linear=n_max / n_min,
        note=f"time(Enhanced RWKV, n={n_max}) / time(n={n_min}); {n_max / n_min:g} is exactly linear",
    )
    projections_s = times.pop(PROJECTIONS)
    table = {
        name: {str(n): summarize(s) for n, s in per_n.items()} for name, per_n in times.items()
    }
    plot = out_dir / "fig4_scaling.png"
    _plot_scaling(times, summarize(step_samples), plot)
    if docs_copy is not None:
        docs_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plot, docs_copy)
    return {
        "rwkv_time_over_projections": figure(
            over[worst], "ratio", target=1.3, higher_is_better=False, worst_n=worst,
            per_n={str(n): summarize(r) for n, r in over.items()},
            note="time(Enhanced RWKV forward) / time(its K, V, R and output projections alone), "
                 "interleaved, at the n where it is largest; the rest is the WKV scan, token "
                 "shift, gates and LayerNorms (torch eager)",
        ),
        "rwkv_vs_transformer_speedup_n8192": figure(
            ratios(long["Transformer"], long["Enhanced RWKV"]), "x", target=0.7 * mac_ratio,
            n=LONG_N, width=SCALING_WIDTH, device=device, multiply_add_ratio=mac_ratio,
            gflop={name: f / 1e9 for name, f in flops.items()},
            note="time(Transformer) / time(Enhanced RWKV), one forward, batch 1, torch eager; "
                 "target 0.7 x the ratio of their multiply-adds (FlopCounterMode, attention included)",
        ),
        "rwkv_growth_250_to_1750": growth,
        "_scaling": {
            "seconds_per_forward": table,
            "rwkv_projections_alone_s": {str(n): summarize(v) for n, v in projections_s.items()},
            "seconds_per_forward_n8192": {name: summarize(v) for name, v in long.items()},
            "rwkv_vs_transformer_speedup_n1750": summarize(ratios(trans_t[n_max], rwkv_t[n_max])),
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


def export_vadclip_head(out_dir: Path, width: int) -> tuple[str, Any]:
    """VadCLIP's temporal head (LGT-Adapter + C-branch, random weights) as ONNX; the path and
    the torch module."""
    import torch

    from benchmarks.baselines import VISUAL_LENGTH, VadCLIPTemporalHead, export_onnx

    torch.manual_seed(0)
    path = str(out_dir / "vadclip_temporal_head.onnx")
    head = VadCLIPTemporalHead(width)
    error = export_onnx(head, {"features": torch.randn(1, VISUAL_LENGTH, width)}, ["scores"], path)
    if error > 1e-3:
        raise RuntimeError(f"VadCLIP head export differs from torch by {error:.2e}")
    return path, head.eval()


def graph_flops(module, graph: str, inputs: dict) -> int:
    """FLOPs of one call of a bundle graph's torch module (the modules export wrote)."""
    from tcvads_ros.runtime.backends.torch import run_graph_module

    return count_flops_with_attention(lambda: run_graph_module(module, graph, inputs))


def bench_coarse(ctx: Context) -> dict:
    import numpy as np

    from benchmarks.baselines import VISUAL_LENGTH
    from tcvads_ros.runtime.frames import resize_rgb
    from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline

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
    head_path, head_module = export_vadclip_head(ctx.work, m.fine_feature_dim)
    head = ctx.onnx_session(head_path)
    clip_session = backend.session("fine_image")
    clip_window = np.zeros((1, VISUAL_LENGTH, m.fine_feature_dim), dtype=np.float32)
    # Per frame: ours = backbone on the frame + QACM over its window; VadCLIP-style = CLIP
    # image encoder on the frame + its head over 256 snippets.
    import torch

    modules = torch_backend.modules
    fine_in = resize_rgb(rgb[0], tuple(m.fine_input_size))[None]
    ours_flops = (graph_flops(modules["coarse_backbone"], "coarse_backbone", {"frames": coarse_in[0]})
                  + graph_flops(modules["coarse_qacm"], "coarse_qacm", {"features": window}))
    vadclip_flops = (graph_flops(modules["fine_image"], "fine_image", {"frames": fine_in})
                     + count_flops_with_attention(lambda: head_module(torch.from_numpy(clip_window))))
    flop_ratio = vadclip_flops / ours_flops
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
            ratios(per_frame["bare_forward"], per_frame["streaming_core"]), "ratio", target=0.9,
            pipeline_fps=fps["streaming_core"], bare_forward_fps=fps["bare_forward"],
            camera=f"{CAMERA_SIZE[1]}x{CAMERA_SIZE[0]} bgr8", model_input=list(m.coarse_input_size),
            note="fps(image_convert + resize + backbone + QACM + events, stride 1) / "
                 "fps(bare ONNX Runtime backbone + QACM on preprocessed input)",
        ),
        "coarse_vs_vadclip_speedup": figure(
            ratios(per_frame["vadclip"], per_frame["ours_onnxruntime"]), "x", target=0.9 * flop_ratio,
            flop_ratio=flop_ratio, time_over_flop_ratio=summarize(
                [r / flop_ratio for r in ratios(per_frame["vadclip"], per_frame["ours_onnxruntime"])]),
            gflop_per_frame={"ours": ours_flops / 1e9, "vadclip": vadclip_flops / 1e9},
            ours_ms_per_frame=_ms(per_frame["ours_onnxruntime"]),
            vadclip_ms_per_frame=_ms(per_frame["vadclip"]),
            baseline=f"open_clip {ctx.clip_model} image encoder (the bundle's fine_image graph) + "
                     f"VadCLIP temporal head over {VISUAL_LENGTH} snippets, ONNX Runtime",
            note="per-frame time(VadCLIP-style) / time(ours: backbone + QACM window), both ONNX "
                 "Runtime, both from the same RGB camera frames (resize included); target 0.9 x "
                 "the ratio of their FLOPs (FlopCounterMode on the exported torch modules)",
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
    """The deployed fine stage (its sessions on one thread, docs/performance.md), the same graphs
    on ONNX Runtime with as many threads as torch, torch, and a plain matrix product of the
    ViT's MLP shape, interleaved: the achieved GFLOP/s of each against the matmul's."""
    import numpy as np
    import torch

    from tcvads_ros.runtime.backends import create_backend
    from tcvads_ros.runtime.fine import classify_clip
    from tcvads_ros.runtime.frames import resize_rgb

    payloads = camera_messages(FINE_CLIP, seed=1)
    clip = [to_frame(p, i * 16) for i, p in enumerate(payloads)]
    tokens, width = 4 * 197, 768  # the MLP of ViT-B/16 on four images: (788 x 768) @ (768 x 3072)
    a, b = torch.randn(tokens, width), torch.randn(width, 4 * width)
    fns = {
        "onnxruntime": lambda: classify_clip(ctx.bundle, ctx.backend, clip),
        "torch": lambda: classify_clip(ctx.bundle, ctx.torch_backend, clip),
        "matmul": lambda: [torch.mm(a, b) for _ in range(20)],
    }
    equal = None  # with one thread the deployed sessions already run on as many threads as torch
    if ctx.threads > 1:
        equal = create_backend("onnxruntime", ctx.bundle, device=ctx.device, threads=ctx.threads,
                               fine_threads=ctx.threads)
        fns["onnxruntime_equal_threads"] = lambda: classify_clip(ctx.bundle, equal, clip)
    samples = interleaved(fns, ctx.plan.fine_rounds, warmup=1)
    if equal is not None:
        equal.close()
    samples.setdefault("onnxruntime_equal_threads", samples["onnxruntime"])
    m = ctx.bundle.manifest
    modules = ctx.torch_backend.modules
    frames = np.stack([resize_rgb(f.rgb, tuple(m.fine_input_size)) for f in clip])
    features = np.zeros((1, FINE_CLIP, m.fine_feature_dim), np.float32)
    text = np.zeros((len(m.class_names), m.fine_feature_dim), np.float32)
    flops = (graph_flops(modules["fine_image"], "fine_image", {"frames": frames})
             + graph_flops(modules["fine_temporal"], "fine_temporal", {"features": features, "text": text}))
    matmul_gflops = [20 * 2 * tokens * width * 4 * width / t / 1e9 for t in samples["matmul"]]

    def gflops(key):
        return summarize([flops / t / 1e9 for t in samples[key]])

    return {
        "fine_latency_s": figure(
            samples["onnxruntime"], "s", higher_is_better=False,
            torch_s=summarize(samples["torch"]),
            onnxruntime_vs_torch_speedup=summarize(ratios(samples["torch"], samples["onnxruntime"])),
            clip_snippets=FINE_CLIP, image_encoder=ctx.clip_model, fine_threads=1,
            note="event start to explanation: classify_clip on 16 camera frames (resize, CLIP "
                 "image encoder, caption retrieval, RWKV temporal head), ONNX Runtime as deployed "
                 "(fine sessions on one thread beside the coarse stage); torch_s is the same "
                 f"through the torch backend on {ctx.threads} thread(s)",
        ),
        "fine_onnxruntime_vs_torch_speedup": figure(
            ratios(samples["torch"], samples["onnxruntime_equal_threads"]), "x", target=1.0,
            threads=ctx.threads, gflop_per_clip=flops / 1e9,
            gflops={"onnxruntime": gflops("onnxruntime_equal_threads"), "torch": gflops("torch"),
                    "onnxruntime_deployed": gflops("onnxruntime"),
                    "plain_matmul": summarize(matmul_gflops)},
            note=f"time(torch) / time(ONNX Runtime), the same fine graphs, both on {ctx.threads} "
                 "thread(s); achieved GFLOP/s against a plain float32 matmul of the ViT's MLP "
                 "shape (torch.mm) measured in the same rounds",
        ),
    }


# --------------------------------------------------------------------------------------------
# 5. Memory


def bench_memory(ctx: Context) -> dict:
    results = {}
    for stage, key in (("coarse", "coarse_rss_mb"), ("full", "full_rss_mb")):
        samples, probes = [], []
        for _ in range(ctx.plan.rss_repeats):
            probe = run_json_subprocess(
                ["-m", "benchmarks.memory_probe", str(ctx.bundle.root), "--stage", stage,
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


MAX_AGE_S = 0.1  # a frame processed later than this after its camera sent it is too old


def _cameras(ctx: Context, streams: int):
    """`streams` detectors with the bundle's defaults, batched by one MultiStreamPipeline."""
    from tcvads_ros.runtime.multi_stream import MultiStreamPipeline
    from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline

    return MultiStreamPipeline(ctx.backend, {
        s: TwoStagePipeline(ctx.bundle, ctx.backend, PipelineConfig(fine=False)) for s in range(streams)
    })


def throughput_bound(ctx: Context, streams: int, seconds: float = 1.0) -> float:
    """Streams one process could serve if nothing waited: `streams` cameras' frames pushed
    unpaced, a round of one frame per camera at a time, each converted from its bgr8 message,
    for `seconds` of video; streams x video seconds / wall seconds."""
    payloads = camera_messages(4, seed=3)
    multi = _cameras(ctx, streams)
    rounds = int(seconds * 30)

    def video():
        for i in range(rounds):
            multi.push([(s, to_frame(payloads[(i + s) % 4], i)) for s in range(streams)])

    video()  # warm-up: the windows fill, the sessions settle
    start = time.perf_counter()
    video()
    elapsed = time.perf_counter() - start
    multi.close()
    return streams * seconds / elapsed


def stream_trial(ctx: Context, streams: int, seconds: float, warmup_s: float = 1.0) -> dict:
    """`streams` paced 30 fps cameras served by one MultiStreamPipeline on one thread: whenever
    frames are due, every camera's due frames are converted and pushed together (their samples
    share one backbone call). Cameras run independently, as real ones do: their frames are
    staggered within the frame period and their frame numbers start at different points of a
    snippet, so their samples (frame numbers divisible by 16) fall in different frame periods
    rather than all in the same one. A frame's age is the time from when its camera sent it to
    when its push returned; the trial holds when no frame after the warm-up is older than
    MAX_AGE_S."""
    period = 1.0 / 30.0
    payloads = camera_messages(4, seed=2)
    multi = _cameras(ctx, streams)
    offsets = [period * s / streams for s in range(streams)]
    sample_every = ctx.bundle.manifest.snippet_frames
    first = [s * sample_every // streams for s in range(streams)]  # each camera's first frame number
    next_index = list(first)
    ages: list[float] = []
    start = time.perf_counter()
    while True:
        due_next = min(start + offsets[s] + (next_index[s] - first[s]) * period for s in range(streams))
        if due_next - start > seconds:
            break
        now = time.perf_counter()
        if now < due_next:
            time.sleep(due_next - now)
            now = time.perf_counter()
        batch, sent = [], []
        for s in range(streams):
            while (sent_at := start + offsets[s] + (next_index[s] - first[s]) * period) <= now:
                i = next_index[s]
                batch.append((s, to_frame(payloads[i % len(payloads)], i)))
                sent.append(sent_at)
                next_index[s] += 1
        multi.push(batch)
        done = time.perf_counter()
        ages += [done - t for t in sent if t - start >= warmup_s]
    multi.close()
    ages.sort()
    return {"streams": streams, "frames": len(ages), "max_age_s": ages[-1] if ages else 0.0,
            "p99_age_s": ages[int(0.99 * (len(ages) - 1))] if ages else 0.0,
            "backbone_batches": multi.batches, "held": bool(ages) and ages[-1] <= MAX_AGE_S}


def bench_streams(ctx: Context) -> dict:
    """Largest number of paced streams with no frame older than MAX_AGE_S (binary search), over
    the throughput bound measured in the same run."""
    one = throughput_bound(ctx, 1)
    bound = throughput_bound(ctx, max(1, int(one)))  # at about the count it predicts: batched
    low, high = 0, int(bound) + 1
    trials: list[dict] = []
    while high - low > 1 and len(trials) < ctx.plan.stream_trials:
        streams = (low + high) // 2
        trial = stream_trial(ctx, streams, ctx.plan.stream_seconds)
        trials.append(trial)
        if trial["held"]:
            low = streams
        else:
            high = streams
    after = throughput_bound(ctx, max(1, int(bound)))  # the machine's load moves: measure it again
    bound_median = statistics.median([bound, after])
    sample_every = ctx.bundle.manifest.snippet_frames
    return {
        "streams_30fps": figure(
            [float(low)], "streams", target=0.8 * bound_median,
            throughput_bound=bound_median, throughput_bound_before_after=[bound, after],
            throughput_bound_one_stream=one, trials=trials, max_age_s=MAX_AGE_S,
            note=f"bundle defaults (one backbone run per {sample_every} frames, QACM every "
                 "snippet); every frame converted from a 1280x720 bgr8 message; one thread, "
                 "MultiStreamPipeline (backbone calls batched across streams); a trial holds when "
                 f"no frame is older than {MAX_AGE_S * 1000:.0f} ms when processed; target 0.8 x "
                 "the unpaced throughput bound measured before and after the trials",
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
                      "command": " ".join(["python", "-m", "benchmarks.run", *(argv or sys.argv[1:])])}
    if args.quick:
        print("QUICK run: fewer repeats, a 2-layer CLIP instead of ViT-B/16, 3 sequence lengths, "
              f"{threads} thread(s); "
              "for checking that everything runs, not for comparing figures.", file=sys.stderr)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tcvads_bench_") as tmp:
        from benchmarks.bundles import register_small_clip, untrained_bundle
        from tcvads_ros.runtime.backends import create_backend
        from tcvads_ros.training.export import source_run_modules

        _progress(started, "exporting an untrained default-size bundle")
        if plan.clip_model == SMALL_CLIP:
            register_small_clip(Path(tmp) / "clip_configs")
        bundle = untrained_bundle(Path(tmp), clip_model=plan.clip_model, max_captions=plan.max_captions)
        ctx = Context(
            plan=plan, device=device, threads=threads, work=Path(tmp), bundle=bundle,
            backend=create_backend("onnxruntime", bundle, device=device, threads=threads),
            torch_backend=create_backend("torch", bundle, device=device, modules=source_run_modules(bundle)),
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
