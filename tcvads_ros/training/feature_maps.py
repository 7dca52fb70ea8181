# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Feature maps of the fine stage: t-SNE of video and class text features (paper §V.E, Fig. 8).

Each point is one snippet's video feature, coloured by the snippet's class (from the ground-truth
segments; snippets outside every segment and normal videos are "Normal"); each class's text
feature is a star of its colour. Two panels:

- **TCVADS**: the fine stage's video features (Enhanced RWKV over the frozen CLIP snippet
  features, normalised, as `FineStage.forward` compares them) and its class text features
  (triplet prompts, the edge rule over each clip's retrieved captions, averaged over the clips
  and re-normalised: one star per class).
- **CLIP**: the plain baseline of Fig. 8(a): the same frozen CLIP snippet features without the
  temporal model, and class-name prompts only (``"a photo of a {class}."``, lower case) through
  the same frozen CLIP text encoder: no learned context, no captions, no RWKV.

Points and stars of a panel are embedded together by scikit-learn's t-SNE (cosine metric, PCA
initialisation, fixed seed). Two numbers say what the picture shows, in the original space:
the silhouette score of the snippet features by class (cosine; higher = tighter, better separated
classes) and the share of snippets whose most similar class text feature is their own class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from sklearn.metrics import recall_score, silhouette_score  # noqa: E402

from tcvads_ros.data.annotations import SNIPPET_FRAMES  # noqa: E402
from tcvads_ros.training.feature_datasets import NORMAL  # noqa: E402
from tcvads_ros.training.report import save_figure  # noqa: E402

PLAIN_PROMPT = "a photo of a {}."


def snippet_classes(n_snippets: int, segments: Sequence[tuple[int, int]], labels: Sequence[str],
                    snippet_frames: int = SNIPPET_FRAMES) -> list[str]:
    """Class of every snippet: the labelled segment covering most of its frames, else Normal.

    Segments are half-open frame ranges; labels other than a known anomaly (e.g. VadCLIP's
    normal label "A") read as Normal.
    """
    classes = []
    for s in range(n_snippets):
        lo, hi = s * snippet_frames, (s + 1) * snippet_frames
        best, best_overlap = NORMAL, 0
        for (start, end), label in zip(segments, labels):
            overlap = min(hi, end) - max(lo, start)
            if overlap > best_overlap and label not in (NORMAL, "A"):
                best, best_overlap = label, overlap
        classes.append(best if best_overlap * 2 >= snippet_frames else NORMAL)
    return classes


@torch.no_grad()
def plain_clip_text(fine_model: torch.nn.Module, class_names: Sequence[str],
                    template: str = PLAIN_PROMPT) -> np.ndarray:
    """Class-name prompts through the fine stage's frozen CLIP text encoder: (C, D), normalised."""
    prompts = [template.format(name.lower()) for name in class_names]
    device = next(fine_model.parameters()).device
    tokens = fine_model.tokenizer(prompts).to(device)
    return F.normalize(fine_model.clip.encode_text(tokens).float(), dim=-1).cpu().numpy()


@dataclass
class FeatureSet:
    """One panel of the figure: snippet features with their classes and one text feature per class."""

    title: str
    video: np.ndarray  # (N, D)
    classes: list[str]  # (N,) class name of each snippet
    text: np.ndarray  # (C, D), row c = class_names[c]
    class_names: list[str]

    def scores(self) -> dict[str, float]:
        """Silhouette (cosine) of the snippets by class and the balanced accuracy (mean recall
        over the classes present) of "the nearest class text feature is the snippet's class"."""
        labels = np.array(self.classes)
        video = self.video / np.linalg.norm(self.video, axis=1, keepdims=True).clip(1e-12)
        text = self.text / np.linalg.norm(self.text, axis=1, keepdims=True).clip(1e-12)
        nearest = np.array(self.class_names)[np.argmax(video @ text.T, axis=1)]
        present = len(set(self.classes))
        silhouette = (float(silhouette_score(video, labels, metric="cosine"))
                      if 2 <= present < len(labels) else float("nan"))
        return {"snippets": len(labels), "classes_present": present, "silhouette": silhouette,
                "nearest_text_balanced_accuracy": float(recall_score(
                    labels, nearest, labels=sorted(set(self.classes)), average="macro", zero_division=0))}


def tsne_2d(points: np.ndarray, seed: int, perplexity: float = 30.0) -> np.ndarray:
    """scikit-learn t-SNE to 2-D (cosine metric, PCA init); perplexity capped below N / 3."""
    perplexity = float(min(perplexity, max(1.0, (len(points) - 1) / 3.0)))
    return TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca",
                random_state=seed).fit_transform(points.astype(np.float64))


def feature_map_figure(path: str | Path, sets: Sequence[FeatureSet], seed: int) -> Path:
    """Fig. 8: one t-SNE panel per feature set, snippets as dots, class text features as stars."""
    names = list(dict.fromkeys(n for s in sets for n in s.class_names))
    colours = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    fig, axes = plt.subplots(1, len(sets), figsize=(4.6 * len(sets), 4.4), squeeze=False)
    for ax, fs in zip(axes[0], sets):
        xy = tsne_2d(np.concatenate([fs.video, fs.text]), seed)
        points, stars = xy[: len(fs.video)], xy[len(fs.video):]
        for name in names:
            chosen = np.array(fs.classes) == name
            if chosen.any():
                ax.scatter(points[chosen, 0], points[chosen, 1], s=7, alpha=0.7, color=colours[name])
        for c, name in enumerate(fs.class_names):
            ax.scatter(stars[c, 0], stars[c, 1], marker="*", s=260, color=colours[name],
                       edgecolors="black", linewidths=0.8, label=name)
        s = fs.scores()
        ax.set_title(f"{fs.title}\nsilhouette {s['silhouette']:.2f}, "
                     f"nearest-text balanced acc. {100 * s['nearest_text_balanced_accuracy']:.0f} %", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].legend(fontsize=7, markerscale=0.6, loc="best")
    fig.suptitle("t-SNE of snippet video features (dots) and class text features (stars)", fontsize=10)
    return save_figure(fig, path)
