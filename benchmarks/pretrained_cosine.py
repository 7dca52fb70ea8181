# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""How closely torchvision's MobileNetV2 features survive in the interpretable backbone at start.

Loads a checkpoint (``--checkpoint``; without one, a randomly initialised torchvision model
whose BatchNorm statistics are fitted to the images, standing in for ImageNet weights), maps it
into `InterpretableMobileNet` (models/pretrained.py) and prints the mean cosine between our
pooled features and torchvision's on images (``--frames`` folder of pictures, else smooth
random images): with the deconvolutions initialised from the checkpoint's BatchNorm statistics,
from statistics measured on the images, and left at their random initialisation.

    python -m benchmarks.pretrained_cosine --width 1.0 --size 224
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file
from torchvision.models import mobilenet_v2

from tcvads_ros.models.mobilenet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    InterpretableMobileNet,
    MobileNetConfig,
)
from tcvads_ros.models.pretrained import (
    feature_cosine,
    load_torchvision_mobilenet,
    read_state_dict,
    torchvision_names,
)


def smooth_images(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.interpolate(torch.randn(n, 3, size // 8, size // 8, generator=g), size=size,
                                           mode="bilinear", align_corners=False)


def folder_images(folder: Path, size: int) -> torch.Tensor:
    import cv2
    import numpy as np

    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rgb = [cv2.resize(cv2.imread(str(p))[:, :, ::-1], (size, size), interpolation=cv2.INTER_AREA) for p in paths]
    x = torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="torchvision MobileNetV2 state dict (.pth/.safetensors)")
    parser.add_argument("--width", type=float, default=1.0, help="width_mult of the checkpoint")
    parser.add_argument("--size", type=int, default=224, help="input side in pixels")
    parser.add_argument("--frames", type=Path, help="folder of images to compare on")
    parser.add_argument("--images", type=int, default=16, help="smooth random images when no --frames")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    images = folder_images(args.frames, args.size) if args.frames else smooth_images(args.images, args.size, 1)
    calibration, test = images[: len(images) // 2], images[len(images) // 2:]
    reference = mobilenet_v2(weights=None, width_mult=args.width)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.checkpoint
        if path is not None:
            reference.load_state_dict(read_state_dict(path))
        else:  # BatchNorm statistics fitted to images, as a trained model's are
            for m in reference.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.momentum = None
            with torch.no_grad():
                reference.train()(smooth_images(16, args.size, 2))
            path = Path(tmp) / "reference.safetensors"
            save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
        cfg = MobileNetConfig(width_mult=args.width, input_size=args.size, feature_dim=1280)
        results = {}
        for name, frames in (("from batchnorm statistics", None), ("from statistics measured on the images", calibration)):
            model = InterpretableMobileNet(cfg)
            load_torchvision_mobilenet(model, path, frames=frames)
            results[name] = feature_cosine(model, reference, test)
        untouched = InterpretableMobileNet(cfg)
        state = reference.state_dict()
        untouched.load_state_dict({k: state[v] for k, v in torchvision_names(untouched).items()}, strict=False)
        results["left random"] = feature_cosine(untouched, reference, test)
    for name, value in results.items():
        print(f"feature cosine, deconvolutions {name}: {value:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
