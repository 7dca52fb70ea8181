# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Paper §IV.A, Exp. (7), measured: is the deconvolution map more sensitive to the input pixels
than the convolution map it is computed from?

The paper argues, with σ' ≈ 1 and ``‖W_D‖_F² > 1``, that

    ‖∂F_A/∂f_t‖_F² > ‖∂F_C/∂f_t‖_F²                                          (Exp. 7)

where F_C = σ(W_C·f + b_C) is a stage's convolution output and F_A = σ(W_D·F_C + b_D) the
deconvolution map after it. For every stage of a trained `InterpretableMobileNet` this measures,
per frame, both squared Frobenius norms of the Jacobians with respect to the input image (the
network's input after normalisation), by Hutchinson's estimator: ``‖J‖_F² = E‖Jᵀv‖²`` over
Rademacher vectors v in the map's space, one vector-Jacobian product (a backward pass) each.
Beside them: the squared Frobenius norm of W_D with the BatchNorm folded in (the paper's
assumption), and the share of the deconvolution's ReLU6 units that pass a gradient (σ' = 1
inside (0, 6), 0 where clipped; the paper's σ' ≈ 1).

What this does and does not show (docs/interpretability.md): a ratio above 1 says the
deconvolution map moves more per unit change of the input pixels than the convolution map; it
says nothing of whether the map is easier for a person to read or more faithful to the
decision, since any layer with large enough weights makes a gradient larger.
"""

from __future__ import annotations

import numpy as np
import torch

from tcvads_ros.models.mobilenet import FramePreprocess, InterpretableMobileNet
from tcvads_ros.runtime.frames import resize_rgb

WHAT_IT_SHOWS = ("a ratio above 1 shows that the deconvolution map moves more than the convolution map "
                 "per unit change of the input pixels; it does not show that the map is easier for a "
                 "person to read or more faithful to the decision, since any layer with large enough "
                 "weights makes a gradient larger")


def folded_deconv_weight(deconv: torch.nn.Module) -> torch.Tensor:
    """W_D with the BatchNorm (inference statistics) folded in: (in, out, k, k)."""
    conv, bn = deconv[0], deconv[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # per output channel
    return conv.weight * scale[None, :, None, None]


def _squared_jacobian_norms(output: torch.Tensor, image: torch.Tensor, probes: int,
                            generator: torch.Generator) -> torch.Tensor:
    """Per frame (N,): Hutchinson estimate of ‖∂output/∂image‖_F² (Rademacher probes)."""
    total = torch.zeros(image.shape[0], dtype=torch.float64)
    for _ in range(probes):
        v = torch.randint(0, 2, output.shape, generator=generator).to(output) * 2 - 1
        (grad,) = torch.autograd.grad(output, image, grad_outputs=v, retain_graph=True)
        total += grad.double().pow(2).flatten(1).sum(1).cpu()
    return total / probes


def measure(backbone: InterpretableMobileNet, images: torch.Tensor, probes: int = 8,
            seed: int = 0) -> list[dict]:
    """Exp. (7) per stage on normalised images (N, 3, H, W), the backbone in inference mode.

    Returns one dict per stage: mean squared Frobenius norms of the convolution's and the
    deconvolution's Jacobian (``conv_sq``, ``deconv_sq``), their ratio (of the means), the share
    of frames where Exp. (7) holds, ``W_D``'s squared Frobenius norm (BatchNorm folded) and the
    share of ReLU6 units of the deconvolution that pass a gradient.
    """
    backbone = backbone.eval()
    generator = torch.Generator().manual_seed(seed)
    image = images.detach().clone().requires_grad_(True)
    rows = []
    with torch.enable_grad():
        x = backbone.stem(image)
        for index, (stage, deconv) in enumerate(zip(backbone.stages, backbone.deconvs)):
            conv_map = stage(x)
            pre = deconv[1](deconv[0](conv_map))  # W_D·F_C + b_D (BatchNorm folded)
            deconv_map = torch.clamp(pre, 0.0, 6.0)  # the deconvolution's ReLU6, not in place
            conv_sq = _squared_jacobian_norms(conv_map, image, probes, generator)
            deconv_sq = _squared_jacobian_norms(deconv_map, image, probes, generator)
            weight = folded_deconv_weight(deconv).detach()
            rows.append({
                "stage": index + 1,
                "channels": int(conv_map.shape[1]),
                "map_size": list(conv_map.shape[-2:]),
                "conv_sq": float(conv_sq.mean()),
                "deconv_sq": float(deconv_sq.mean()),
                "ratio": float(deconv_sq.mean() / conv_sq.mean().clamp_min(1e-30)),
                "holds_share": float((deconv_sq > conv_sq).double().mean()),
                "w_d_sq_frobenius": float(weight.double().pow(2).sum()),
                "relu6_pass_share": float(((pre > 0) & (pre < 6)).double().mean()),
            })
            x = deconv_map  # the next stage reads the deconvolution map, as forward does
    return rows


def measure_frames(backbone: InterpretableMobileNet, frames: np.ndarray, probes: int = 8,
                   seed: int = 0, device: torch.device | str = "cpu") -> dict:
    """``measure`` on RGB uint8 frames (N, H, W, 3) of any size (resized as the detector does)."""
    size = backbone.cfg.input_size
    small = np.stack([resize_rgb(np.ascontiguousarray(f), (size, size)) for f in frames])
    preprocess = FramePreprocess(backbone.cfg.mean, backbone.cfg.std).to(device)
    images = preprocess(torch.from_numpy(small).to(device)).float()
    stages = measure(backbone.to(device), images, probes, seed)
    return {"frames": len(frames), "probes": probes, "input_size": size, "stages": stages,
            "holds_at_stages": sum(s["ratio"] > 1 for s in stages), "of_stages": len(stages)}
