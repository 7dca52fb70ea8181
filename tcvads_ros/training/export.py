# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads export RUN_DIR --out BUNDLE_DIR`: a training run -> a verified model bundle.

The four graphs of docs/ARCHITECTURE.md (five for a student with an audio encoder: its
``coarse_audio`` graph, and the manifest's ``audio`` feature rule, docs/audio.md) are torch modules here (`graph_modules`) whose inputs
and outputs are exactly the bundle's tensors, so preprocessing (uint8 NHWC RGB -> normalised
NCHW), the QACM sigmoid and the fine stage's cosine / tau / softmax live inside the exported
graphs and the deployed model cannot disagree with the trained one. After writing each graph the
ONNX Runtime outputs are compared with torch's on sample inputs; a difference above the
tolerance (`tolerance`: relative to the outputs' magnitude, since float32 rounding grows with
it) refuses the export, and nothing is left at ``--out``. The torch backend runs the same graph
modules (`source_run_modules` hands them over).

This module imports torch; it is part of the training side, the runtime never imports it.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import shlex
import shutil
import sys
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tcvads_ros import __version__
from tcvads_ros.errors import BundleError, DataError
from tcvads_ros.runtime.backends.torch import run_graph_module
from tcvads_ros.runtime.bundle import (
    AUDIO_FILE,
    AUDIO_GRAPH,
    FORMAT_VERSION,
    GRAPH_FILES,
    GRAPH_INPUTS,
    GRAPH_OUTPUTS,
    TEXT_TABLE,
    Bundle,
    Manifest,
    write_manifest,
)
from tcvads_ros.training.run_folder import RunFolder

OPSET = 17
# Accepted max |onnxruntime - torch| on the sample inputs: ATOL + RTOL * max |torch output|.
# Two float32 implementations of one graph differ by rounding that grows with the values: on the
# smoke run's backbone features (magnitude ~5) torch is 1.3e-4 and ONNX Runtime 7.2e-4 away from
# a float64 copy of the model. An export bug (a wrong op, a missed normalisation) is off by the
# outputs' own order of magnitude.
RTOL = 1e-3
ATOL = 1e-5


class CoarseBackboneGraph(nn.Module):
    """frames uint8 (N,H,W,3) -> features (N,D), cam (N,h,w): preprocessing in the graph.

    One backbone pass gives both: the features and the CAM from its deconvolution maps. The
    backbone is a copy whose stride-1 deconvolutions are the equal convolutions (see
    `deconvolutions_as_convolutions`): same numbers, a faster graph.
    """

    def __init__(self, preprocess: nn.Module, backbone: nn.Module):
        super().__init__()
        self.preprocess = preprocess
        self.backbone = deconvolutions_as_convolutions(copy.deepcopy(backbone))

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, maps = self.backbone.forward_with_maps(self.preprocess(frames))
        return features, self.backbone.cam_from_maps(maps)


def deconvolutions_as_convolutions(module: nn.Module) -> nn.Module:
    """Replace (in place) every stride-1 ConvTranspose2d by the Conv2d that computes the same.

    A stride-1 transposed convolution with padding p is a convolution with the kernel's in/out
    channels swapped, flipped in space, and padding k - 1 - p. ONNX Runtime's CPU Conv is much
    better optimised than its ConvTranspose (which also breaks its blocked-layout chain): the
    coarse backbone runs ~1.3x faster (docs/performance.md).
    """
    for name, child in module.named_children():
        if (isinstance(child, nn.ConvTranspose2d) and child.stride == (1, 1) and child.groups == 1
                and child.dilation == (1, 1) and child.output_padding == (0, 0)
                and child.padding_mode == "zeros"):
            k = child.kernel_size
            conv = nn.Conv2d(child.in_channels, child.out_channels, k, bias=child.bias is not None,
                             padding=(k[0] - 1 - child.padding[0], k[1] - 1 - child.padding[1]))
            with torch.no_grad():
                conv.weight.copy_(child.weight.transpose(0, 1).flip(-1, -2))
                if child.bias is not None:
                    conv.bias.copy_(child.bias)
            setattr(module, name, conv.to(child.weight.device).train(child.training))
        else:
            deconvolutions_as_convolutions(child)
    return module


class CoarseQACMGraph(nn.Module):
    """features (1,W,D) -> scores (1,W) anomaly probabilities (sigmoid in the graph)."""

    def __init__(self, qacm: nn.Module):
        super().__init__()
        self.qacm = qacm

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.qacm(features))


class FineImageGraph(nn.Module):
    """frames uint8 (N,Hc,Wc,3) -> normalised CLIP image features (N,Dc), CLIP preprocessing in graph."""

    def __init__(self, fine: nn.Module):
        super().__init__()
        self.fine = fine

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.fine.encode_images(self.fine.preprocess(frames))


class FineTemporalGraph(nn.Module):
    """features (1,T,Dc), text (C,Dc) -> probs (1,T,C), video_scores (1,C) (paper Exp. 15-16).

    The bundle's `video_scores` are video-level class *probabilities*: FineStage's
    `video_probs`, the softmax of its top-k mean logits (MIL-Align).
    """

    def __init__(self, fine: nn.Module):
        super().__init__()
        self.fine = fine

    def forward(self, features: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.fine(features, text)
        return out["probs"], out["video_probs"]


def sample_inputs(manifest: Manifest, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Inputs of the right shapes and types for every graph (export check, tests, benchmarks)."""
    rng = np.random.default_rng(seed)
    h, w = manifest.coarse_input_size
    hc, wc = manifest.fine_input_size
    dc, t = manifest.fine_feature_dim, manifest.fine_clip_snippets
    unit = rng.standard_normal((1, t, dc)).astype(np.float32)
    text = rng.standard_normal((len(manifest.class_names), dc)).astype(np.float32)
    sizes, audio = manifest.sizes(), manifest.audio_spec
    sounds = {} if audio is None else {AUDIO_GRAPH: {"mel": (rng.standard_normal(
        (2, audio.n_mels, audio.mel_frames)) * 3 - 6).astype(np.float32)}}  # log energies, roughly
    return {
        **sounds,
        "coarse_backbone": {"frames": rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)},
        "coarse_qacm": {"features": rng.standard_normal((1, manifest.window, sizes["qacm_dim"])).astype(np.float32)},
        "fine_image": {"frames": rng.integers(0, 256, (2, hc, wc, 3), dtype=np.uint8)},
        "fine_temporal": {
            "features": unit / np.linalg.norm(unit, axis=-1, keepdims=True),
            "text": text / np.linalg.norm(text, axis=-1, keepdims=True),
        },
    }


def _export_graph(module: nn.Module, graph: str, inputs: Mapping[str, np.ndarray], path: Path) -> None:
    names_in, names_out = list(GRAPH_INPUTS[graph]), list(GRAPH_OUTPUTS[graph])
    # Frame batches are dynamic; the QACM window is dynamic (a stream starts with fewer
    # snippets); the fine clip length is fixed (the RWKV scan is traced for that length); the
    # class count is dynamic, so `tcvads bundle add-class` needs no new graph.
    dynamic = {
        "coarse_backbone": {"frames": {0: "n"}, "features": {0: "n"}, "cam": {0: "n"}},
        "coarse_qacm": {"features": {1: "w"}, "scores": {1: "w"}},
        AUDIO_GRAPH: {"mel": {0: "n"}, "features": {0: "n"}},
        "fine_image": {"frames": {0: "n"}, "features": {0: "n"}},
        "fine_temporal": {"text": {0: "classes"}, "probs": {2: "classes"}, "video_scores": {1: "classes"}},
    }[graph]
    args = tuple(torch.from_numpy(np.ascontiguousarray(inputs[n])) for n in names_in)
    # A frozen CLIP in eval mode would trace torch's fused attention kernel, which has no ONNX
    # export; the plain attention path gives the same numbers.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():  # tracer notes on Python-level shape checks; checked below
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, args, str(path), input_names=names_in, output_names=names_out,
                dynamic_axes=dynamic, opset_version=OPSET, dynamo=False,
            )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def tolerance(outputs: Mapping[str, np.ndarray]) -> float:
    """The accepted max |onnxruntime - torch| for a graph whose torch outputs are `outputs`."""
    scale = max(float(np.max(np.abs(v))) if v.size else 0.0 for v in outputs.values())
    return ATOL + RTOL * scale


def check_graph(path: Path, module: nn.Module, graph: str,
                inputs: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """(max |onnxruntime - torch| over the graph's outputs on `inputs`, the tolerance for them)."""
    import onnxruntime as ort

    from tcvads_ros.runtime.backends.onnxruntime import cpu_session_options

    session = ort.InferenceSession(str(path), cpu_session_options(), providers=["CPUExecutionProvider"])
    got = dict(zip(GRAPH_OUTPUTS[graph], session.run(list(GRAPH_OUTPUTS[graph]), dict(inputs))))
    want = run_graph_module(module, graph, inputs)
    return max(float(np.max(np.abs(got[k] - want[k]))) for k in want), tolerance(want)


def export_bundle(graphs: Mapping[str, nn.Module], text_table: Mapping[str, np.ndarray],
                  manifest: Manifest, out: Path, overwrite: bool = False) -> Bundle:
    """Write graphs + text table + manifest to `out`, check ONNX against torch, load it back.

    Args:
        graphs: graph name -> module taking/returning the bundle's tensors (see the classes above).
        text_table: "class_caption" (C,K,Dc) and "captions" (K,Dc), normalised.
        manifest: everything but `files` (filled here) and `versions` (completed here).
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise BundleError(f"{out}: folder exists and is not empty; choose a new folder or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside `out` and moved there once checked: a failed export leaves nothing behind
    # (and an existing bundle in place).
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(work, 0o777 & ~umask)  # mkdtemp's folder is private (0700); a bundle is not
        _write_bundle(graphs, text_table, manifest, work, out)
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        work.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Bundle.load(out)


def _write_bundle(graphs: Mapping[str, nn.Module], text_table: Mapping[str, np.ndarray],
                  manifest: Manifest, out: Path, shown: Path) -> None:
    """Write and check the bundle in `out`; errors name the files as `shown / name`."""
    import onnx
    import onnxruntime
    from safetensors.numpy import save_file

    manifest.format_version = FORMAT_VERSION
    manifest.versions = {
        "tcvads_ros": __version__, "torch": torch.__version__, "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__, "opset": OPSET,
        "python": ".".join(map(str, sys.version_info[:3])), **manifest.versions,
    }
    manifest.created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    if manifest.model_card:
        manifest.model_card["made_by"] = {**manifest.model_card["made_by"], "versions": manifest.versions}
    samples = sample_inputs(manifest)
    files = {**GRAPH_FILES, **({AUDIO_GRAPH: AUDIO_FILE} if manifest.audio else {})}
    for graph, file in files.items():
        module = graphs[graph].eval()
        _export_graph(module, graph, samples[graph], out / file)
        error, limit = check_graph(out / file, module, graph, samples[graph])
        if not error <= limit:
            raise BundleError(
                f"{shown / file}: ONNX Runtime differs from torch by {error:.2e} (> {limit:.2e}, the tolerance "
                "for these outputs) on sample inputs; the graph did not export faithfully (report "
                "this as a bug)"
            )
        manifest.export_check[graph] = error
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in text_table.items()},
              str(out / TEXT_TABLE))
    write_manifest(out, manifest, vouch_card=True)  # the card was made from this run


def load_run(run_dir: Path) -> tuple[dict[str, nn.Module], dict[str, np.ndarray], Manifest]:
    """The graph modules, text table and manifest (less files/versions) of a training run.

    Reads the run folder (`tcvads_ros.training.run_folder`): student, fine and calibration.json.
    """
    from tcvads_ros.models.mobilenet import FramePreprocess

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BundleError(f"{run_dir}: training run folder not found")
    run = RunFolder(run_dir, writable=False)
    try:
        student_info, fine_info = run.info("student"), run.info("fine")
        if student_info.input != "frames":
            raise BundleError(
                f"{run_dir}: the student was trained on precomputed features (no backbone); an edge "
                "bundle needs a student trained on frames (data.kind: videos or synthetic)"
            )
        threshold = run.read_json("calibration.json").get("threshold")
        if not isinstance(threshold, (int, float)):
            raise BundleError(f"{run.path('calibration.json')}: no numeric 'threshold'; re-run the calibration")
        student, fine = run.load_stage("student"), run.load_stage("fine")
    except DataError as exc:
        raise BundleError(f"{exc} (is this a finished training run? tcvads train)") from exc
    if getattr(fine.cfg, "text_temporal", False):
        # the bundle's fine_temporal graph takes one (C, D) text per clip; Fig. 3's text branch
        # needs every snippet's captions (docs/models.md)
        raise BundleError(f"{run_dir}: the fine stage was trained with fine.model.text_temporal=true "
                          "(per-snippet text through the RWKV); bundles ship the per-clip text branch")
    with torch.no_grad():
        table = {"class_caption": fine.class_caption_table().float().numpy(),
                 "captions": fine.caption_embeddings().float().numpy()}
    size = (student_info.input_size, student_info.input_size)
    fine_mean, fine_std = fine.preprocess.mean.flatten().tolist(), fine.preprocess.std.flatten().tolist()
    manifest = Manifest(
        format_version=FORMAT_VERSION, created="", versions={},
        coarse_input_size=size, coarse_mean=tuple(student_info.mean), coarse_std=tuple(student_info.std),
        feature_dim=student.backbone.feature_dim,
        fine_input_size=tuple(fine.input_size), fine_mean=tuple(fine_mean), fine_std=tuple(fine_std),
        fine_feature_dim=int(fine.embed_dim),
        fine_clip_snippets=fine_info.clip_snippets,
        snippet_frames=student_info.snippet_frames, window=student_info.window,
        fps=fine_info.fps, stride=1, thresholds={"coarse": float(threshold)},
        class_names=list(fine.class_names), captions=list(fine.captions.captions),
        tau=float(fine.cfg.tau), top_m=int(fine.cfg.top_m),
        source_run=str(run_dir.resolve()),
        model_card=model_card_for(run),
        audio=dict(student_info.audio),
    )
    graphs = {
        "coarse_backbone": CoarseBackboneGraph(FramePreprocess(manifest.coarse_mean, manifest.coarse_std),
                                               student.backbone),
        "coarse_qacm": CoarseQACMGraph(student.qacm),
        "fine_image": FineImageGraph(fine),
        "fine_temporal": FineTemporalGraph(fine),
    }
    if (student.audio is None) != (not student_info.audio):
        raise BundleError(f"{run.path('student.json')}: 'audio' does not match the student's audio encoder "
                          "(a student.json edited by hand?); train the student again")
    if student.audio is not None:
        graphs[AUDIO_GRAPH] = student.audio
    return graphs, table, manifest


def source_run_modules(bundle: Bundle) -> dict[str, nn.Module]:
    """The graph modules of the training run `bundle` was exported from (`manifest.source_run`):
    what the torch backend runs. The runtime reads no training run, so this side loads them."""
    run_dir = Path(bundle.manifest.source_run)
    if not bundle.manifest.source_run or not run_dir.is_dir():
        raise BundleError(
            f"{bundle.root}: the torch backend runs the training run the bundle came from, "
            f"but '{bundle.manifest.source_run}' is not there; use --backend onnxruntime"
        )
    return load_run(run_dir)[0]


def model_card_for(run: RunFolder) -> dict:
    """The model card (runtime/model_card.py) of a training run, from its resolved config, the
    synthetic benchmark's meta.json where it trained on one, and `tcvads evaluate`'s test-split
    metrics where the run was evaluated. Its ``graphs`` are filled when the bundle is written. A
    run folder without its config.yaml (assembled by hand) gets no card: nothing says what it saw."""
    from tcvads_ros.data.synthetic import read_meta
    from tcvads_ros.training.train_config import load_config

    if not run.path("config.yaml").is_file():
        return {}
    cfg = load_config(run.path("config.yaml"))
    data = cfg.data
    if data.kind == "synthetic":
        limits = ["trained on synthetic drawings: not for camera footage, where it raises false alarms "
                  "and names wrong categories; calibrate to the site (tcvads calibrate) or train on "
                  "your own footage"]
        meta = read_meta((cfg.data.cache_dir or run.path("cache")) / "synthetic")
        if meta is None:  # the cache was deleted: what the run asked the generator for
            synth = data.synth
            meta = {"videos": synth.videos, "frames_per_video": synth.frames, "width": synth.width,
                    "height": synth.height, "fps": synth.fps, "cameras": synth.cameras, "seed": synth.seed}
            limits.append("the synthetic benchmark's meta.json was gone at export: the generator version "
                          "is not known, the rest is from the run's configuration")
        trained_on = {"dataset": "tcvads synth", "synthetic": True,
                      **{k: meta.get(k) for k in ("generator_version", "videos", "test_videos",
                                                  "frames_per_video", "width", "height", "fps",
                                                  "cameras")},
                      "benchmark_seed": meta.get("seed"), "seed": cfg.seed}
        if run.path("student.json").is_file() and run.info("student").audio:
            trained_on["sound"] = "tcvads synth --audio: drawn sound tracks"
            limits.append("trained on synthetic drawings of sound (tcvads synth --audio: tones, filtered noise "
                          "and envelopes, not recordings): its audio branch knows those drawings, not real "
                          "gunshots, shouting or horns; train on your own footage's sound before trusting what "
                          "it hears")
        use = ("showing and testing the detector on `tcvads synth` videos (the demo, tutorials, CI)")
    else:
        trained_on = {"dataset": data.dataset, "synthetic": False, "kind": data.kind,
                      "train_list": str(data.train_list), "seed": cfg.seed}
        use = f"anomaly detection on footage like {data.dataset.upper()}'s; calibrate to each site"
        limits = ["scores on footage unlike the training set are not calibrated: run tcvads calibrate "
                  "on the site's normal footage"]
    metrics = {}
    if run.path("eval/metrics.json").is_file():
        found = run.read_json("eval/metrics.json")
        metrics = {"split": "test", **{k: found.get(k) for k in ("AP", "AUC", "AnoAUC", "mAP_avg", "videos",
                                                               "teacher", "mode")}}
    else:
        limits.append("not evaluated on its test split before export (tcvads evaluate RUN_DIR)")
    return {"trained_on": trained_on, "metrics": metrics, "intended_use": use, "limitations": limits,
            "made_by": {"command": _typed_command(), "commit": _commit()}}


def _typed_command() -> str:
    """The `tcvads` command line this process runs, as typed; a caller from Python says so."""
    if Path(sys.argv[0]).name == "tcvads":
        return shlex.join(["tcvads", *sys.argv[1:]])
    return f"called from Python ({shlex.join(sys.argv)})"


def _commit() -> str:
    """The git commit of the checkout this package runs from ("+dirty" with uncommitted changes),
    or "" where it is not a checkout (an installed wheel)."""
    import subprocess

    here = Path(__file__).resolve().parent
    checkout = here.parents[1]  # tcvads_ros/training -> the repository, where this is a checkout
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=here, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        if Path(top).resolve() != checkout:  # a wheel installed inside some other repository
            return ""
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+dirty" if dirty else "")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="training run folder (written by tcvads train)")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing folder at --out")


def run(args: argparse.Namespace) -> int:
    graphs, text_table, manifest = load_run(args.run_dir)
    bundle = export_bundle(graphs, text_table, manifest, args.out, overwrite=args.overwrite)
    print(f"wrote bundle {bundle.root} ({len(bundle.class_names)} classes, {len(bundle.captions)} captions)")
    for graph, error in bundle.manifest.export_check.items():
        print(f"  {bundle.graphs[graph]:22s} onnxruntime vs torch max |diff| {error:.1e}")
    return 0
