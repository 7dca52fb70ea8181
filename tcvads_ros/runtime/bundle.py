# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Model bundles: the folder a trained model travels in, and its verification.

A bundle holds the four ONNX graphs of docs/ARCHITECTURE.md (coarse backbone with its
preprocessing in the graph, QACM with the sigmoid in the graph, CLIP image encoder with CLIP's
preprocessing in the graph, RWKV temporal head with cosine / tau / softmax in the graph), the
class x caption text table (safetensors) and `manifest.json`. A bundle trained with sound also
holds the audio graph (`coarse_audio`: a snippet's log-mel patch -> its audio feature; the
manifest's ``audio`` settings, `audio_features.AudioSpec`), and its QACM reads the visual and
the audio feature side by side (docs/audio.md). `Bundle.load` refuses a bundle whose
manifest, files, hashes, format version or class count do not fit, with a `BundleError` that names
the problem and says what to do. It opens no graph: each backend opens a graph once, when it is
first used, and checks its tensor names and shapes then (`Bundle.check_interface`, same kind of
message), so a coarse-only process never loads the CLIP image encoder (docs/performance.md).
Loading imports no torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tcvads_ros.configuration import from_mapping, to_mapping
from tcvads_ros.errors import BundleError, ConfigError
from tcvads_ros.runtime.audio_features import AudioSpec
from tcvads_ros.runtime.model_card import ModelCard, check_card, load_card

# 2: `class_prompts` and `edits` (bundles edited by `tcvads bundle`, docs/added_classes.md); a
# version-1 manifest reads as one with neither. 3: `model_card` (runtime/model_card.py); an
# earlier manifest reads as one without a card. 4: `audio` (the audio branch, docs/audio.md); an
# earlier manifest reads as one without sound.
FORMAT_VERSION = 4
MANIFEST = "manifest.json"
TEXT_TABLE = "text_table.safetensors"

# Graph tensor names and ranks, fixed by docs/ARCHITECTURE.md. A dimension is an int that must
# match exactly, a manifest key whose value it must match, or None (free: batch / time).
GRAPH_FILES = {
    "coarse_backbone": "coarse_backbone.onnx",
    "coarse_qacm": "coarse_qacm.onnx",
    "fine_image": "fine_image.onnx",
    "fine_temporal": "fine_temporal.onnx",
}
# The audio graph: only in a bundle trained with sound (manifest `audio` set; `Bundle.graphs`).
AUDIO_GRAPH = "coarse_audio"
AUDIO_FILE = "coarse_audio.onnx"
# The graphs of each stage: a node loads its stage's graphs before it takes frames (and the
# audio graph where the bundle has one: `Bundle.coarse_graphs`).
COARSE_GRAPHS = ("coarse_backbone", "coarse_qacm")
FINE_GRAPHS = ("fine_image", "fine_temporal")
GRAPH_INPUTS = {
    "coarse_backbone": {"frames": (None, "coarse_h", "coarse_w", 3)},
    # the visual feature, then the audio feature where the bundle has sound (qacm_dim)
    "coarse_qacm": {"features": (1, None, "qacm_dim")},
    AUDIO_GRAPH: {"mel": (None, "n_mels", "mel_frames")},
    "fine_image": {"frames": (None, "fine_h", "fine_w", 3)},
    "fine_temporal": {"features": (1, "fine_clip", "fine_feature_dim"), "text": ("classes", "fine_feature_dim")},
}
GRAPH_OUTPUTS = {
    "coarse_backbone": {"features": (None, "feature_dim"), "cam": (None, None, None)},
    "coarse_qacm": {"scores": (1, None)},
    AUDIO_GRAPH: {"features": (None, "audio_dim")},
    "fine_image": {"features": (None, "fine_feature_dim")},
    "fine_temporal": {"probs": (1, "fine_clip", "classes"), "video_scores": (1, "classes")},
}
# The files whose sha256 a model card lists: the model it describes (docs/runtime.md); and the
# audio graph, in a bundle with sound (`card_describes`).
CARD_DESCRIBES = [*GRAPH_FILES.values(), TEXT_TABLE]


def card_describes(manifest: Manifest) -> list[str]:
    """The files the model card of a bundle with this manifest describes."""
    return CARD_DESCRIBES + ([AUDIO_FILE] if manifest.audio else [])


@dataclass
class Manifest:
    """manifest.json. Sizes are (height, width); mean/std are per RGB channel in [0, 1] units."""

    format_version: int
    created: str
    versions: dict
    coarse_input_size: tuple[int, int]
    coarse_mean: tuple[float, float, float]
    coarse_std: tuple[float, float, float]
    feature_dim: int
    fine_input_size: tuple[int, int]
    fine_mean: tuple[float, float, float]
    fine_std: tuple[float, float, float]
    fine_feature_dim: int
    fine_clip_snippets: int  # the fine temporal graph's fixed clip length (snippets)
    snippet_frames: int
    window: int  # QACM window in snippets (>= the QACM receptive field)
    fps: float  # frame rate of the training videos; sources give their own
    stride: int  # QACM scored every `stride` new snippets
    thresholds: dict  # "coarse": calibrated probability threshold of the coarse stage
    class_names: list[str]
    captions: list[str]
    tau: float
    top_m: int
    export_check: dict = field(default_factory=dict)  # graph -> max |onnxruntime - torch| at export
    files: dict = field(default_factory=dict)  # file name -> sha256
    source_run: str = ""  # the training run it was exported from (for the torch backend)
    # The label text the fine stage's text side read for a class, where it is not the class name
    # (`tcvads bundle add-class NAME --prompt TEXT`, a rename that kept the rows).
    class_prompts: dict = field(default_factory=dict)
    edits: list = field(default_factory=list)  # one record per `tcvads bundle` edit, oldest first
    model_card: dict = field(default_factory=dict)  # `ModelCard` as plain data; {}: none
    audio: dict = field(default_factory=dict)  # `AudioSpec` as plain data; {}: a bundle without sound

    @property
    def audio_spec(self) -> AudioSpec | None:
        """The audio branch's settings, or None for a bundle without sound."""
        return AudioSpec.from_manifest(self.audio) if self.audio else None

    def sizes(self) -> dict[str, int]:
        """Values the graph shape specs above refer to by name."""
        audio = self.audio_spec
        return {
            "qacm_dim": self.feature_dim + (audio.embedding_dim if audio else 0),
            "n_mels": audio.n_mels if audio else None,
            "mel_frames": audio.mel_frames if audio else None,
            "audio_dim": audio.embedding_dim if audio else None,
            "coarse_h": self.coarse_input_size[0],
            "coarse_w": self.coarse_input_size[1],
            "fine_h": self.fine_input_size[0],
            "fine_w": self.fine_input_size[1],
            "feature_dim": self.feature_dim,
            "fine_feature_dim": self.fine_feature_dim,
            "fine_clip": self.fine_clip_snippets,
            "classes": len(self.class_names),
        }


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, manifest: Manifest, vouch_card: bool = False) -> Path:
    """Hash every file of the bundle into the manifest and write it (the manifest last).

    `vouch_card`: the caller made these graphs from what the model card describes (`tcvads
    export`) or changed them and said so in the card (`tcvads bundle`, an INT8 copy), so the
    card's ``graphs`` are set to the files written here. Without it the card keeps the graphs it
    described, and a bundle whose graphs changed under it is refused by `Bundle.load`."""
    folder = Path(folder)
    manifest.files = {
        p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST
    }
    if manifest.model_card and vouch_card:
        manifest.model_card = {**manifest.model_card,
                               "graphs": {name: manifest.files.get(name) for name in card_describes(manifest)}}
    path = folder / MANIFEST
    path.write_text(json.dumps(to_mapping(manifest), indent=2) + "\n", encoding="utf-8")
    return path


class Bundle:
    """A verified bundle. Construct with `Bundle.load(path)`."""

    def __init__(self, root: Path, manifest: Manifest, text_table: dict[str, np.ndarray],
                 card: ModelCard | None = None):
        self.root = root
        self.manifest = manifest
        self.text_table = text_table
        self.card = card  # what it was trained on and for; None for a bundle exported without one

    @property
    def class_names(self) -> list[str]:
        return self.manifest.class_names

    @property
    def captions(self) -> list[str]:
        return self.manifest.captions

    @property
    def audio(self) -> AudioSpec | None:
        """The audio branch's settings; None for a bundle without sound."""
        return self.manifest.audio_spec

    @property
    def graphs(self) -> dict[str, str]:
        """Graph name -> file of every graph this bundle holds."""
        return {**GRAPH_FILES, **({AUDIO_GRAPH: AUDIO_FILE} if self.manifest.audio else {})}

    @property
    def coarse_graphs(self) -> tuple[str, ...]:
        """The coarse stage's graphs: the backbone, the QACM, and the audio graph where there is one."""
        return COARSE_GRAPHS + ((AUDIO_GRAPH,) if self.manifest.audio else ())

    def path(self, name: str) -> Path:
        """Path of a bundle file, by file name or graph name ("coarse_qacm")."""
        return self.root / self.graphs.get(name, name)

    def sha256(self, name: str) -> str:
        return self.manifest.files[self.path(name).name]

    def check_interface(self, graph: str, inputs: dict[str, tuple], outputs: dict[str, tuple]) -> None:
        """Check a graph's input and output names and fixed dimensions, as the backend that has
        just opened it sees them ({name: shape}; a free dimension is None, a string or < 0),
        against docs/ARCHITECTURE.md and the manifest."""
        path, sizes = self.path(graph), self.manifest.sizes()
        for kind, found, spec in (("input", inputs, GRAPH_INPUTS[graph]), ("output", outputs, GRAPH_OUTPUTS[graph])):
            if set(found) != set(spec):
                raise BundleError(
                    f"{path}: {kind} tensors are {sorted(found)} but {graph} must have {sorted(spec)} "
                    "(docs/ARCHITECTURE.md); re-export the bundle with this tcvads_ros"
                )
            for name, dims in spec.items():
                shape = tuple(found[name])
                if len(shape) != len(dims):
                    raise BundleError(f"{path}: {kind} '{name}' has rank {len(shape)}, expected {len(dims)}")
                for axis, (have, want) in enumerate(zip(shape, dims)):
                    want = sizes.get(want, want) if isinstance(want, str) else want
                    if want is not None and isinstance(have, int) and have >= 0 and have != want:
                        raise BundleError(
                            f"{path}: {kind} '{name}' axis {axis} is {have}, the manifest needs {want}; "
                            "graph and manifest come from different exports, re-export the bundle"
                        )

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        root = Path(path)
        redo = "re-export it with `tcvads export RUN_DIR --out BUNDLE_DIR`"
        if not root.is_dir():
            raise BundleError(f"{root}: bundle folder not found; {redo}")
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise BundleError(f"{manifest_path}: manifest missing, this is not a bundle; {redo}")
        try:
            raw = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"{manifest_path}: not valid JSON ({exc}); {redo}") from exc
        version = raw.get("format_version") if isinstance(raw, dict) else None
        if not isinstance(version, int):
            raise BundleError(f"{manifest_path}: no integer 'format_version'; {redo}")
        if version > FORMAT_VERSION:
            raise BundleError(
                f"{manifest_path}: bundle format {version} is newer than this tcvads_ros reads "
                f"({FORMAT_VERSION}); upgrade tcvads_ros or export the bundle with this version"
            )
        try:
            manifest = from_mapping(Manifest, raw)
        except ConfigError as exc:
            raise BundleError(f"{manifest_path}: {exc}; {redo}") from exc
        _check_names(manifest_path, manifest)
        audio = manifest.audio_spec  # a BundleError where the audio settings are wrong
        expected = set(GRAPH_FILES.values()) | {TEXT_TABLE} | ({AUDIO_FILE} if audio else set())
        unlisted = sorted(expected - set(manifest.files))
        if unlisted:
            raise BundleError(f"{manifest_path}: {', '.join(unlisted)} not listed in 'files'; {redo}")
        for name, digest in manifest.files.items():
            file = root / name
            if not file.is_file():
                raise BundleError(f"{file}: file missing from the bundle; copy the whole bundle folder again")
            if sha256(file) != digest:
                raise BundleError(
                    f"{file}: sha256 does not match the manifest (corrupt or modified); "
                    "copy the bundle again or re-export it"
                )
        card = load_card(manifest.model_card, str(manifest_path))
        if card is not None:
            check_card(card, manifest.files, card_describes(manifest), str(manifest_path))
        return cls(root, manifest, _load_text_table(root / TEXT_TABLE, manifest), card)


def _check_names(path: Path, manifest: Manifest) -> None:
    """Class names are what explanations report: non-empty and distinct; prompts name classes."""
    names = manifest.class_names
    if any(not isinstance(n, str) or not n.strip() for n in names):
        raise BundleError(f"{path}: a class name is empty; every class needs a name")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BundleError(f"{path}: class names repeat: {', '.join(repeated)}; each class needs its own name")
    stray = sorted(set(manifest.class_prompts) - set(names))
    if stray:
        raise BundleError(f"{path}: 'class_prompts' names {', '.join(stray)}, which are not classes")


def _load_text_table(path: Path, manifest: Manifest) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        table = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"{path}: cannot read the text table ({exc}); re-export the bundle") from exc
    for key in ("class_caption", "captions"):
        if key not in table:
            raise BundleError(f"{path}: tensor '{key}' missing; re-export the bundle")
    classes, captions, dim = len(manifest.class_names), len(manifest.captions), manifest.fine_feature_dim
    want = {"class_caption": (classes, captions, dim), "captions": (captions, dim)}
    for key, shape in want.items():
        if table[key].shape != shape:
            raise BundleError(
                f"{path}: '{key}' has shape {table[key].shape} but the manifest's "
                f"{classes} class names, {captions} captions and feature size {dim} need {shape}; "
                "the table and manifest come from different exports, re-export the bundle"
            )
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in table.items()}

