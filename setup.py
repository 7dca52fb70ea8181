# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""tcvads_ros: an ament_python ROS 2 package that is also a pip-installable Python project.

colcon (ROS 2) and pip both read this file. colcon installs the ament index marker, package.xml,
launch files and configuration into share/tcvads_ros; setup.cfg puts the node executables under
lib/tcvads_ros so that `ros2 run` finds them. pip installs the same tree into a virtual environment
on a machine without ROS 2.
"""

from glob import glob as _glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "tcvads_ros"
# This file's real folder. A `colcon build --symlink-install` runs it from build/tcvads_ros (a
# symlink to it there), so nothing may be opened or globbed relative to the working directory.
HERE = Path(__file__).resolve().parent


def glob(pattern: str) -> list[str]:
    """The paths matching `pattern` in this folder, relative to it (as data_files wants them),
    sorted."""
    return sorted(_glob(pattern, root_dir=HERE))


# Run-time needs of the ROS-free core: the coarse stage runs on ONNX Runtime and NumPy, no torch.
RUNTIME = [
    "numpy>=1.24",
    "opencv-python-headless>=4.8",
    "pillow>=9.0",
    "onnxruntime>=1.17",
    "pyyaml>=6.0",
    "safetensors>=0.4",
    "tqdm>=4.66",
    "rosbags>=0.10",
    "av>=12",  # PyAV: a file's sound, muxed in a video or a WAV beside it (docs/audio.md)
    "soxr>=0.3",  # resampling a stream's sound to the bundle's rate (docs/audio.md)
]
# One torch/torchvision pair that pip resolves from the registry and that open_clip imports with.
# (torchvision has no build for a local `+cpu` torch; these two are released together.)
TORCH = [
    "torch==2.14.1",
    "torchvision==0.29.1",
    "open_clip_torch==3.3.0",
    "onnx>=1.16",
    "onnxscript>=0.2",
]
TRAIN = TORCH + [
    "scikit-learn>=1.4",
    "matplotlib>=3.8",
    "tensorboard>=2.15",
]
TEST = TRAIN + [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",
    "ruff>=0.6",
    "imageio-ffmpeg>=0.5",  # an ffmpeg with libx264, so tests can encode H.264 camera-like files
    "mkdocs>=1.6",  # the documentation site (mkdocs.yml), built with --strict by scripts/test.sh
    "mkdocs-material>=9.5",
]

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Real-time, explainable two-stage video anomaly detection (TCVADS) for ROS 2 and edge cameras",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/config/train", glob("config/train/*.yaml")),
        # open_clip configs the training configs name (fine.model.clip_model: local-dir:clip-tiny)
        *((f"share/{PACKAGE}/{d}", glob(f"{d}/*.json")) for d in sorted(glob("config/train/clip-*"))),
        # the bundles `tcvads demo` runs (tcvads demo --train --save-bundle models/demo-bundle; with
        # --audio, models/demo-audio-bundle), the
        # stand-in CLIP `tcvads demo --train` stands on (tcvads pretrain-clip models/clip-standin)
        # and the backbone its coarse stage starts from (tcvads pretrain-backbone, docs/models.md)
        *((f"share/{PACKAGE}/{d}", [f for f in sorted(glob(f"{d}/*")) if not f.endswith(".partial")])
          for d in ("models/demo-bundle", "models/demo-audio-bundle", "models/clip-standin",
                    "models/backbone-standin")),
    ],
    install_requires=RUNTIME,
    extras_require={
        "torch": TORCH,
        "train": TRAIN,
        "tensorrt": ["tensorrt>=10.0", "cuda-python>=12.0"],
        "test": TEST,
    },
    zip_safe=True,
    maintainer="tcvads_ros developers",
    maintainer_email="tcvads-ros@users.noreply.github.com",
    entry_points={
        "console_scripts": [
            "tcvads = tcvads_ros.cli:main",
            "coarse_node = tcvads_ros.nodes.coarse_node:main",
            "fine_node = tcvads_ros.nodes.fine_node:main",
            "camera_player = tcvads_ros.nodes.camera_player:main",
        ],
    },
)
