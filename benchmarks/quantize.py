#!/usr/bin/env python
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""INT8 post-training quantization of the coarse backbone for CPUs, with its accuracy and speed.

    python -m benchmarks.quantize [--bundle BUNDLE] [--write-bundle OUT] [--json FILE]

ONNX Runtime's static quantization (`quantize_static`, QDQ format, per-channel int8 weights,
uint8 activations) calibrated on synthetic camera frames (`CalibrationDataReader`, frames
resized exactly as the detector does). Then, on other frames than the calibration ones:

- agreement: cosine similarity of fp32 and int8 backbone features, the QACM scores of windows of
  each (max and mean |difference|, Spearman rank correlation) and the share of snippets on the
  same side of the bundle's alarm threshold; on an untrained bundle this is the only accuracy measure there is (with a
  trained run, use training/evaluate.py on the written bundle for AP);
- speed: fp32 and int8 backbone forwards, interleaved, per frame.

`--write-bundle OUT` copies the bundle with the int8 backbone in place of the fp32 one and a new
manifest (hashes, a `quantization` note under versions), which `Bundle.load` verifies like any
other. Without --bundle an untrained default-size bundle is exported first (2-layer CLIP).
FP16 for TensorRT is the TensorRT backend's `precision` option and needs a GPU (not verified here).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.camera import camera_messages, to_frame
from benchmarks.timing import interleaved, ratios, summarize


class SyntheticFrames:
    """onnxruntime.quantization.CalibrationDataReader over resized synthetic camera frames."""

    def __init__(self, size: tuple[int, int], count: int, seed: int):
        from tcvads_ros.runtime.frames import resize_rgb

        payloads = camera_messages(count, seed=seed)
        self.frames = [resize_rgb(to_frame(p, i).rgb, size)[None] for i, p in enumerate(payloads)]
        self._next = 0

    def get_next(self) -> dict | None:
        if self._next >= len(self.frames):
            return None
        self._next += 1
        return {"frames": self.frames[self._next - 1]}

    def rewind(self) -> None:
        self._next = 0


def quantize_backbone(fp32: Path, out: Path, size: tuple[int, int], frames: int) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(SyntheticFrames, CalibrationDataReader):
        pass

    prepared = out.with_suffix(".prep.onnx")
    quant_pre_process(str(fp32), str(prepared))
    quantize_static(
        str(prepared), str(out), Reader(size, frames, seed=10), quant_format=QuantFormat.QDQ,
        per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
    )
    prepared.unlink()
    return out


def evaluate(bundle, int8_path: Path, frames: int, rounds: int, threads: int | None) -> dict:
    import onnxruntime as ort
    from scipy.stats import spearmanr

    from tcvads_ros.runtime.backends import create_backend

    m = bundle.manifest
    backend = create_backend("onnxruntime", bundle, threads=threads)
    fp32 = backend.session("coarse_backbone")
    int8 = ort.InferenceSession(str(int8_path), backend._options, providers=backend.providers)
    qacm = backend.session("coarse_qacm")
    test = SyntheticFrames(tuple(m.coarse_input_size), frames, seed=20).frames  # unseen frames
    feats = {name: np.concatenate([s.run(["features"], {"frames": x})[0] for x in test])
             for name, s in (("fp32", fp32), ("int8", int8))}
    a, b = feats["fp32"], feats["int8"]
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    window = m.window
    scores = {name: np.concatenate([
        qacm.run(["scores"], {"features": f[None, i : i + window]})[0][0, -1:]
        for i in range(len(f) - window + 1)]) for name, f in feats.items()}
    diff = np.abs(scores["fp32"] - scores["int8"])
    threshold = m.thresholds.get("coarse", 0.5)
    same_side = float(np.mean((scores["fp32"] >= threshold) == (scores["int8"] >= threshold)))
    rank = float(spearmanr(scores["fp32"], scores["int8"]).statistic)
    x = test[0]
    speed = interleaved({"fp32": lambda: fp32.run(None, {"frames": x}),
                         "int8": lambda: int8.run(None, {"frames": x})}, rounds, warmup=3, inner=5)
    return {
        "feature_cosine": summarize(cosine.tolist()),
        "score_abs_diff": {"max": float(diff.max()), "mean": float(diff.mean())},
        "alarm_agreement": same_side,
        "score_spearman": rank,
        "threshold": threshold,
        "snippets_compared": int(len(diff)),
        "fp32_ms": {k: v * 1e3 for k, v in summarize(speed["fp32"]).items()},
        "int8_ms": {k: v * 1e3 for k, v in summarize(speed["int8"]).items()},
        "int8_speedup": summarize(ratios(speed["fp32"], speed["int8"])),
        "fp32_mb": bundle.path("coarse_backbone").stat().st_size / 2**20,
        "int8_mb": int8_path.stat().st_size / 2**20,
    }


def write_bundle(bundle, int8_path: Path, out: Path) -> Path:
    """A copy of the bundle with the int8 backbone, re-hashed, verified by Bundle.load."""
    import onnxruntime

    from tcvads_ros.runtime.bundle import MANIFEST, Bundle, write_manifest

    shutil.copytree(bundle.root, out)
    (out / MANIFEST).unlink()
    shutil.copyfile(int8_path, out / "coarse_backbone.onnx")
    manifest = bundle.manifest
    manifest.versions = {**manifest.versions, "quantization": (
        f"coarse_backbone int8 (onnxruntime {onnxruntime.__version__} quantize_static, QDQ, "
        "per-channel, calibrated on synthetic frames)")}
    if manifest.model_card:
        manifest.model_card = {**manifest.model_card, "limitations": [
            *manifest.model_card.get("limitations", []),
            "coarse_backbone quantized to int8 after export (benchmarks.quantize): the metrics are of "
            "the float32 bundle"]}
    write_manifest(out, manifest, vouch_card=True)  # the card now says what changed
    return Bundle.load(out).root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=None, help="bundle to quantize (default: untrained)")
    parser.add_argument("--write-bundle", type=Path, default=None, help="write an int8 copy of the bundle here")
    parser.add_argument("--calibration-frames", type=int, default=32)
    parser.add_argument("--test-frames", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from tcvads_ros.runtime.bundle import Bundle

    with tempfile.TemporaryDirectory(prefix="tcvads_int8_") as tmp:
        if args.bundle is None:
            from benchmarks.bundles import SMALL_CLIP, register_small_clip, untrained_bundle

            register_small_clip(Path(tmp) / "clip_configs")
            bundle = untrained_bundle(Path(tmp), clip_model=SMALL_CLIP, max_captions=8)
        else:
            bundle = Bundle.load(args.bundle)
        int8_path = quantize_backbone(bundle.path("coarse_backbone"), Path(tmp) / "coarse_backbone.int8.onnx",
                                      tuple(bundle.manifest.coarse_input_size), args.calibration_frames)
        report = evaluate(bundle, int8_path, args.test_frames, args.rounds, args.threads)
        if args.write_bundle is not None:
            report["bundle"] = str(write_bundle(bundle, int8_path, args.write_bundle))
    print(f"int8 backbone: {report['int8_mb']:.1f} MiB (fp32 {report['fp32_mb']:.1f}); per frame "
          f"{report['int8_ms']['median']:.2f} ms vs fp32 {report['fp32_ms']['median']:.2f} ms "
          f"(speed-up {report['int8_speedup']['median']:.2f}x, min {report['int8_speedup']['min']:.2f}, "
          f"max {report['int8_speedup']['max']:.2f}); feature cosine median "
          f"{report['feature_cosine']['median']:.4f} (min {report['feature_cosine']['min']:.4f}); "
          f"QACM score |diff| max {report['score_abs_diff']['max']:.4f}, rank correlation "
          f"{report['score_spearman']:.3f}; alarm agreement "
          f"{report['alarm_agreement']:.1%} over {report['snippets_compared']} snippets")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
