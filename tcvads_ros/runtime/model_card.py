# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The model card a bundle's manifest carries: what the model was trained on, how well it did on
its test split, what it is for, what it is not for, and what made it (docs/runtime.md, "The
model card").

`tcvads export` writes it from the training run (`training.export.model_card_for`); `Bundle.load`
checks it (`check_card`): a card describes the graphs whose sha256 it lists, so a card copied
onto other graphs, or graphs swapped under a card, is refused. `tcvads detect` and both ROS 2
nodes say at start what the bundle was trained on (`describe`), and a bundle trained on
synthetic drawings that is pointed at anything else warns once (`footage_warning`). A bundle
exported before cards existed has none and keeps working; `describe` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tcvads_ros.configuration import from_mapping
from tcvads_ros.data.synthetic import GENERATOR, read_meta
from tcvads_ros.errors import BundleError, ConfigError

# Where a user whose footage is not what the bundle was trained on is sent.
CALIBRATE_DOC = "docs/calibration.md"
TRAIN_DOC = "docs/training.md"


@dataclass
class ModelCard:
    """A bundle manifest's ``model_card`` (docs/runtime.md lists every key).

    ``trained_on``: ``dataset`` (e.g. "tcvads synth", "xd"), ``synthetic`` (drawn, not filmed),
    and for synthetic data the generator's ``generator_version``, ``videos``, ``test_videos``,
    ``frames_per_video``, ``width``, ``height``, ``fps``, ``seed``, ``cameras``, and the
    training run's ``seed``. ``metrics``: the training run's test split as `tcvads evaluate`
    measured it (``AP``, ``AUC``, ``AnoAUC``, ``mAP_avg``, ``videos``, ``teacher``), empty when the
    run was not evaluated before export. ``made_by``: ``command``, ``commit``, ``versions``.
    ``graphs``: file name -> sha256 of the graphs and text table the card describes.
    """

    trained_on: dict
    metrics: dict
    intended_use: str
    limitations: list[str]
    made_by: dict
    graphs: dict = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return bool(self.trained_on.get("synthetic"))


def load_card(raw: dict, where: str) -> ModelCard | None:
    """The card of a manifest's ``model_card`` mapping (None when empty), or a BundleError."""
    if not raw:
        return None
    try:
        return from_mapping(ModelCard, raw, where="model_card")
    except ConfigError as exc:
        raise BundleError(f"{where}: {exc}; re-export the bundle") from exc


def check_card(card: ModelCard, files: dict[str, str], described: list[str], where: str) -> None:
    """Refuse a card that does not describe exactly these graphs (`described`, by their sha256 in
    the manifest's `files`): its metrics and limits would be about another model."""
    want = {name: files.get(name) for name in described}
    if card.graphs != want:
        wrong = sorted(n for n in set(want) | set(card.graphs) if card.graphs.get(n) != want.get(n))
        raise BundleError(
            f"{where}: the model card describes other graphs than the bundle holds "
            f"({', '.join(wrong)}: sha256 differs); the card's figures are not this model's. "
            "Re-export the bundle from its training run (tcvads export) instead of editing the files"
        )


def card_after_edit(card: dict, record: dict) -> dict:
    """A card after `tcvads bundle` edited the classes or captions (`record`): the same, with a
    limitation saying that its test metrics are of the bundle as exported. {} stays {}."""
    if not card:
        return {}
    note = (f"edited after training (tcvads bundle {record.get('command', '')} at {record.get('at', '')}): "
            "the metrics above are of the bundle as exported, before this edit")
    return {**card, "limitations": [*card.get("limitations", []), note]}


def describe(card: ModelCard | None, bundle_root: Path) -> str:
    """One line: what the bundle at `bundle_root` was trained on and how it scored."""
    if card is None:
        return (f"bundle {bundle_root}: no model card (exported before cards existed): what it was "
                "trained on and for is not recorded")
    data = card.trained_on
    what = str(data.get("dataset", "unknown data"))
    if data.get("generator_version") is not None:
        what += f" version {data['generator_version']}"
    if data.get("videos"):
        size = f" of {data['width']}x{data['height']}" if data.get("width") and data.get("height") else ""
        cams = f", {data['cameras']} cameras" if data.get("cameras") else ""
        what += f" ({data['videos']} videos{size}{cams})"
    if card.synthetic:
        what += ", synthetic drawings"
    metrics = card.metrics
    scored = (f"; test split AP {metrics['AP']:.1f} / AUC {metrics['AUC']:.1f}"
              if isinstance(metrics.get("AP"), (int, float)) and isinstance(metrics.get("AUC"), (int, float))
              else "; no test metrics recorded")
    return f"bundle {bundle_root}: trained on {what}{scored}. Intended use: {card.intended_use}"


def footage_warning(card: ModelCard | None, source: str, source_is_synthetic: bool) -> str | None:
    """The one warning for a synthetic-drawings bundle pointed at a source that is not a `tcvads
    synth` video (a camera, a topic, a real recording), with what to do; None otherwise."""
    if card is None or not card.synthetic or source_is_synthetic:
        return None
    return (f"this bundle was trained on synthetic drawings ({card.trained_on.get('dataset', 'tcvads synth')}) "
            f"and is reading {source}, which is not a synthetic benchmark video: expect false alarms "
            f"and wrong categories on camera footage. Calibrate it to the site first (tcvads calibrate, "
            f"{CALIBRATE_DOC}), or train on your own footage ({TRAIN_DOC})")


def is_synthetic_video(path: str | Path) -> bool:
    """True for a video inside a `tcvads synth` folder (FOLDER/videos/NAME with FOLDER/meta.json
    written by the generator); anything else (a camera index, a topic, a bag) is not."""
    path = Path(path)
    return path.parent.name == "videos" and (read_meta(path.parent.parent) or {}).get("generator") == GENERATOR
