# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Coarse stage training: AFED teacher, QACM student with distillation, temperature search,
threshold calibration (paper §IV.A; docs/models.md).

Models read frames (end to end: uint8 snippet frames from the cache, normalised here with the
backbone's mean/std exactly as `FramePreprocess` does inside the exported graph) or
precomputed features. Scores are probabilities σ(logit) per snippet.

A model with an audio branch also reads each snippet's log-mel patch and whether it was heard
(``audio`` and ``heard`` of the batches, docs/audio.md). In training, modality dropout
(`drop_audio`, ``teacher.audio_dropout`` / ``student.audio_dropout``) takes the sound of some
videos and snippets away, so that the all-zero audio feature the runtime sends for a snippet
without sound means "score from vision". The distilled student then learns from the teacher's
logits for what it was given: a video whose sound was dropped from the teacher's logits without
sound (``teacher_silent``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader
from tqdm import tqdm

from tcvads_ros.configuration import to_mapping
from tcvads_ros.data.annotations import SNIPPET_FRAMES
from tcvads_ros.errors import ConfigError
from tcvads_ros.models.mobilenet import FramePreprocess
from tcvads_ros.models.pretrained import load_torchvision_mobilenet
from tcvads_ros.models.registry import create_model
from tcvads_ros.progress import progress_bar
from tcvads_ros.training import feature_datasets, losses, metrics, resampling
from tcvads_ros.training.alarm_threshold import choose_threshold
from tcvads_ros.training.audio_cache import audio_spec
from tcvads_ros.training.augment import AugmentConfig, augment_batch
from tcvads_ros.training.experiment import Split
from tcvads_ros.training.run_folder import seed_everything
from tcvads_ros.training.temperature_search import TemperatureSearch, search_temperature
from tcvads_ros.training.train_config import AudioDropoutConfig, StudentConfig, TrainConfig
from tcvads_ros.training.trainer import Context, best_of, fit

TEACHER, STUDENT = "afed", "qacm_student"  # create_model names


def input_fn(model: torch.nn.Module, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """Turns a batch as the datasets give it into the model's input.

    Frames (B, T, H, W, 3) uint8 -> (B, T, 3, H, W) normalised; features pass through.
    """
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        return lambda x: x
    preprocess = FramePreprocess(backbone.cfg.mean, backbone.cfg.std).to(device)

    def to_input(x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.uint8:
            raise ValueError(f"a frames-mode model expects uint8 frames, got {x.dtype}")
        b, t = x.shape[:2]
        return preprocess(x.flatten(0, 1)).view(b, t, 3, *x.shape[2:4])

    return to_input


def augmenter(cfg: AugmentConfig, model: torch.nn.Module, seed: int,
              section: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Training-batch augmentation of a frames-mode model (identity when disabled)."""
    if not cfg.enabled:
        return lambda x: x
    if getattr(model, "backbone", None) is None:
        raise ConfigError(f"{section}.augment.enabled: augmentation works on frames; this model reads "
                          f"features (set {section}.augment.enabled=false)")
    generator = torch.Generator().manual_seed(seed)
    return lambda x: augment_batch(x.cpu(), cfg, generator).to(x.device)


def sound(batch: dict, device: torch.device, test: bool = False) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """A batch's (audio patches, heard flags) on `device`, or (None, None) without sound; a test
    item's chunked ones with `test`."""
    audio, heard = ("audio_chunks", "heard_chunks") if test else ("audio", "heard")
    if audio not in batch:
        return None, None
    return batch[audio].to(device), batch[heard].to(device)


class AudioDropout:
    """Modality dropout (`AudioDropoutConfig`): `__call__(heard)` -> (heard with the sound of some
    videos and snippets taken away, which videos lost all of it), from a seeded stream."""

    def __init__(self, cfg: AudioDropoutConfig, seed: int):
        self.cfg = cfg
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, heard: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if heard is None:
            return None, None
        b, t = heard.shape
        videos = torch.rand(b, generator=self.generator) < self.cfg.video
        snippets = torch.rand(b, t, generator=self.generator) < self.cfg.snippet
        kept = heard * ~(videos[:, None] | snippets).to(heard.device)
        return kept, videos.to(heard.device)


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: feature_datasets.FeatureTestDataset, device: torch.device,
            progress: bool = False, desc: str = "predict") -> list[np.ndarray]:
    """Per-snippet anomaly probabilities (T,) of every video, 256-chunked as VadCLIP tests."""
    model.eval().to(device)
    to_input = input_fn(model, device)
    loader = DataLoader(dataset, batch_size=1, collate_fn=feature_datasets.collate_test)
    out = []
    for item in progress_bar(loader, desc=desc, leave=False, show=progress):
        logits = model(to_input(item["chunks"].to(device)), *sound(item, device, test=True))
        out.append(resampling.unchunk(torch.sigmoid(logits).cpu().numpy(), item["length"]))
    return out


def primary_metric(dataset: str) -> str:
    """The coarse metric each dataset reports (XD: AP, UCF: AUC; docs/evaluation.md)."""
    return "AUC" if dataset == "ucf" else "AP"


def validation_scores(probs: list[np.ndarray], split: Split) -> tuple[np.ndarray, np.ndarray, str]:
    """(scores, labels, level) on the validation videos: frames when their truth is known,
    else one top-k mean score per video against its label."""
    if split.val_truth is not None:
        scores = np.concatenate([metrics.snippets_to_frames(p) for p in probs])
        return scores, np.concatenate(split.val_truth.frame_gt), "frame"
    scores = np.array([losses.topk_mean(torch.from_numpy(p)[None], torch.tensor([len(p)])).item()
                       for p in probs])
    labels = np.array([0 if feature_datasets.is_normal(e.label) else 1 for e in split.val.entries])
    return scores, labels, "video"


def validate(model: torch.nn.Module, split: Split, device: torch.device,
             features: list[dict] | None = None,
             score: Callable[..., torch.Tensor] | None = None) -> dict[str, float]:
    """Validation AP and AUC in percent (nan where one class only).

    With a fixed backbone, `features` (`encoded_validation_set`) and `score` (what follows the
    backbone: ``score(features, audio, heard)``) give the same scores without running the
    backbone again every epoch.
    """
    if features is None:
        probs = predict(model, split.val, device)
    else:
        model.eval()
        with torch.no_grad():
            probs = [resampling.unchunk(torch.sigmoid(score(f["x"], f["audio"], f["heard"])).cpu().numpy(),
                                        f["length"]) for f in features]
    scores, labels, _ = validation_scores(probs, split)
    if labels.min() == labels.max():
        return {"val_AP": float("nan"), "val_AUC": float("nan")}
    return {"val_AP": 100 * average_precision_score(labels, scores),
            "val_AUC": 100 * roc_auc_score(labels, scores)}


@torch.no_grad()
def encoded_validation_set(model: torch.nn.Module, split: Split, ctx: Context) -> list[dict] | None:
    """Per validation video, computed once: ``x``, its chunks' backbone features (n, L, D),
    ``audio`` and ``heard``, its chunks' sound (None without), and ``length``."""
    if split.val is None:
        return None
    model.eval().to(ctx.device)
    to_input = input_fn(model, ctx.device)
    loader = DataLoader(split.val, batch_size=1, collate_fn=feature_datasets.collate_test)
    out = []
    for item in loader:
        audio, heard = sound(item, ctx.device, test=True)
        out.append({"x": model.encode(to_input(item["chunks"].to(ctx.device))), "audio": audio, "heard": heard,
                    "length": item["length"]})
    return out


def recalibrate_batchnorm(model: torch.nn.Module, dataset: feature_datasets.FeatureTrainDataset, batch_size: int,
                          ctx: Context) -> None:
    """Recompute the backbone's BatchNorm running statistics for its final weights.

    During training BatchNorm normalises with batch statistics and only tracks an exponential
    average (momentum 0.1) for evaluation. With a few hundred steps that average still carries
    the initial variance 1 and statistics of earlier weights, while the depthwise convolutions'
    true variance is ~1e-2, and the error compounds over ~50 BatchNorm layers: evaluation-mode
    features then shrink towards a constant. One pass over the (unaugmented) training frames
    with a cumulative average (torch's `update_bn`, "precise BN") makes evaluation normalise as
    training did. No-op for a model without a backbone.
    """
    if getattr(model, "backbone", None) is None:
        return
    to_input = input_fn(model, ctx.device)
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=feature_datasets.collate_train)
    with torch.no_grad():  # the backbone's statistics only: an audio encoder keeps its own
        update_bn((to_input(batch["x"].to(ctx.device)).flatten(0, 1) for batch in loader), model.backbone)
    model.eval()


def train_teacher(cfg: TrainConfig, split: Split, ctx: Context) -> torch.nn.Module:
    """Paper Exp. (10): AFED trained with MIL top-k BCE on video labels (or per-snippet BCE,
    ``teacher.supervision: snippet``); with ``teacher.freeze_backbone`` on fixed backbone features."""
    model = create_model(TEACHER, **cfg.teacher.model)
    if cfg.teacher.pretrained_backbone is not None:
        load_torchvision_mobilenet(model.backbone, cfg.teacher.pretrained_backbone)
    model.to(ctx.device)

    def loss(logits, batch):
        if cfg.teacher.supervision == "snippet":
            return {"loss": losses.snippet_bce(logits, batch["snippet_labels"], batch["lengths"])}
        return {"loss": losses.mil_topk_bce(logits, batch["anomaly"], batch["lengths"])}

    dropout = AudioDropout(cfg.teacher.audio_dropout, ctx.seed)

    def heard(batch):  # the batch's sound, some of it taken away (modality dropout)
        audio, flags = sound(batch, ctx.device)
        return audio, dropout(flags)[0]

    val_features = None
    if cfg.teacher.freeze_backbone:
        dataset = encoded_training_set(model, split.train, ctx, passes=cfg.data.frames_per_snippet)
        val_features = encoded_validation_set(model, split, ctx)
        collate = collate_frozen
        model.backbone.requires_grad_(False)

        def loss_fn(m, batch):
            return loss(m.score(batch["x"], *heard(batch)), batch)
    else:
        dataset, collate = split.train, feature_datasets.collate_train
        to_input = input_fn(model, ctx.device)
        augment = augmenter(cfg.teacher.augment, model, ctx.seed, "teacher")

        def loss_fn(m, batch):
            return loss(m(to_input(augment(batch["x"])), *heard(batch)), batch)

    def check(m):  # validation with the statistics evaluation will use (see recalibrate_batchnorm)
        if not cfg.teacher.freeze_backbone:
            recalibrate_batchnorm(m, split.train, cfg.teacher.optim.batch_size, ctx)
        return validate(m, split, ctx.device, val_features, m.score)

    history = fit("teacher", model, dataset, collate, loss_fn, cfg.teacher.optim, ctx,
                  check if split.val is not None else None,
                  monitor=f"val_{primary_metric(cfg.data.dataset)}")
    if not cfg.teacher.freeze_backbone:
        recalibrate_batchnorm(model, split.train, cfg.teacher.optim.batch_size, ctx)
    ctx.run.save_model("teacher", model, TEACHER, to_mapping(model.cfg), best_of(history))
    return model


def new_student(cfg: StudentConfig, teacher: torch.nn.Module | None, device: torch.device) -> torch.nn.Module:
    """A fresh QACM student; its backbone starts from the teacher's (same architecture required)."""
    student = create_model(STUDENT, **cfg.model)
    if cfg.init_from_teacher and teacher is not None and student.backbone is not None:
        if teacher.backbone is None:
            raise ConfigError("student.init_from_teacher: the teacher has no backbone (features input); "
                              "set student.init_from_teacher=false or train the teacher on frames")
        try:
            student.backbone.load_state_dict(teacher.backbone.state_dict())
        except RuntimeError as exc:
            raise ConfigError("student.init_from_teacher: student.model.backbone differs from "
                              f"teacher.model.backbone ({str(exc).splitlines()[0]})") from None
    return student.to(device)


@torch.no_grad()
def encoded_training_set(model: torch.nn.Module, dataset: feature_datasets.FeatureTrainDataset, ctx: Context,
                         passes: int = 1, teacher_logits: bool = False) -> list[dict]:
    """Backbone features of every training sample (and the model's logits), computed once.

    `passes` > 1 encodes each video once per jitter draw (epochs 0..passes-1 of the dataset's
    temporal jitter, `data.frames_per_snippet`), so the fixed features keep the K distinct frames.
    Items keep the sample's sound (``audio``, ``heard``) where the dataset has it; with
    `teacher_logits` and a model with an audio branch, also its logits without sound
    (``teacher_silent``: what a student whose sound was dropped is taught).
    """
    model.eval().to(ctx.device)
    to_input = input_fn(model, ctx.device)
    items = []
    for epoch in range(passes):
        if passes > 1:
            dataset.set_epoch(epoch)
        loader = DataLoader(dataset, batch_size=8, collate_fn=feature_datasets.collate_train)
        for batch in progress_bar(loader, desc="backbone features", leave=False, show=ctx.progress):
            x = to_input(batch["x"].to(ctx.device))
            features = model.encode(x)
            audio, heard = sound(batch, ctx.device)
            logits = model.score(features, audio, heard).cpu() if teacher_logits else None
            silent = model.score(features).cpu() if teacher_logits and model.audio is not None else None
            for i in range(len(features)):
                item = {"x": features[i].cpu(), "lengths": batch["lengths"][i], "anomaly": batch["anomaly"][i]}
                if audio is not None:
                    item.update(audio=batch["audio"][i], heard=batch["heard"][i])
                if teacher_logits:
                    item["teacher"] = logits[i]
                if silent is not None:
                    item["teacher_silent"] = silent[i]
                items.append(item)
    return items


def frozen_backbone_set(teacher: torch.nn.Module, split: Split, ctx: Context) -> list[dict]:
    """Backbone features and teacher logits of every training sample, computed once.

    With ``student.freeze_backbone`` the student's backbone is the teacher's, frozen (docs/training.md: the
    QACM reads "the same backbone features"), so only the QACM trains and neither the backbone
    nor the (frozen) teacher needs to run again in any epoch or temperature trial.
    """
    return encoded_training_set(teacher, split.train, ctx, teacher_logits=True)


def collate_frozen(batch: list[dict]) -> dict:
    return {key: torch.stack([b[key] for b in batch]) for key in batch[0]}


def distill(cfg: StudentConfig, teacher: torch.nn.Module | None, split: Split, ctx: Context,
            temperature: float, stage: str, epochs: int | None = None, checkpoint: bool = True,
            check: bool = True, frozen: list[dict] | None = None,
            monitor: str | None = None,
            val_features: list[dict] | None = None) -> tuple[torch.nn.Module, list[dict]]:
    """Paper Exp. (14): train a student with L_hard + λ·T²·L_soft (λ = 0 when distill is off).

    `frozen` (from `frozen_backbone_set`) trains what follows the backbone (the QACM, and the
    student's audio encoder where it has one) on the teacher's backbone features, the backbone
    frozen, and validates on `val_features` (`encoded_validation_set`) when given; otherwise the
    whole student trains end to end.
    Returns the student (best validation epoch for `monitor`) and the epochs' metrics.
    """
    student = new_student(cfg, teacher, ctx.device)
    weight = cfg.kd_weight if cfg.distill else 0.0
    if teacher is not None:
        teacher.eval().to(ctx.device)  # frozen: eval mode (no dropout), no gradient
        for p in teacher.parameters():
            p.requires_grad_(False)
    dropout = AudioDropout(cfg.audio_dropout, ctx.seed)
    if frozen is not None:
        student.backbone.requires_grad_(False)
        student.backbone.eval()
        # the QACM alone where there is no audio encoder to train beside it
        trained, dataset, collate = (student.qacm if student.audio is None else student), frozen, collate_frozen

        def loss_fn(m, batch):
            heard, dropped = dropout(batch.get("heard"))
            teacher_logits = batch["teacher"] if weight > 0 else None
            if teacher_logits is not None and student.audio is not None and "teacher_silent" in batch:
                teacher_logits = torch.where(dropped[:, None], batch["teacher_silent"], teacher_logits)
            logits = m(batch["x"]) if student.audio is None else m.score(batch["x"], batch.get("audio"), heard)
            return losses.distillation_loss(logits, teacher_logits, batch["anomaly"], batch["lengths"],
                                            temperature, weight)
    else:
        to_input = input_fn(student, ctx.device)
        augment = augmenter(cfg.augment, student, ctx.seed, "student")
        trained, dataset, collate = student, split.train, feature_datasets.collate_train

        def loss_fn(m, batch):
            x = to_input(augment(batch["x"]))
            audio, heard = sound(batch, ctx.device)
            heard = dropout(heard)[0]
            teacher_logits = None
            if weight > 0:
                with torch.no_grad():
                    teacher_logits = teacher(x, audio, heard)
            return losses.distillation_loss(m(x, audio, heard), teacher_logits, batch["anomaly"], batch["lengths"],
                                            temperature, weight)

    optim = cfg.optim if epochs is None else type(cfg.optim)(**{**to_mapping(cfg.optim), "epochs": epochs})
    if frozen is None:
        val_features = None
    score = student.score if val_features is not None else None
    validator = ((lambda _: validate(student, split, ctx.device, val_features, score))
                 if check and split.val is not None else None)
    history = fit(stage, trained, dataset, collate, loss_fn, optim, ctx, validator, checkpoint, monitor)
    if frozen is None:  # a frozen backbone keeps the teacher's (recalibrated) statistics
        recalibrate_batchnorm(student, split.train, optim.batch_size, ctx)
    return student.eval(), history


def choose_temperature(cfg: TrainConfig, teacher: torch.nn.Module, split: Split, ctx: Context,
                       frozen: list[dict] | None = None,
                       val_features: list[dict] | None = None) -> TemperatureSearch:
    """Exp. (12)/(13) with this objective (docs/training.md, "Stages"): each T scored by a short distillation's
    validation metric (AP for XD-format data, AUC for UCF)."""
    search = cfg.student.temperature_search
    if split.val is None:
        raise ConfigError("student.temperature_search needs a validation split: set data.val_fraction > 0 "
                          "or student.temperature_search.enabled=false")
    key = f"val_{primary_metric(cfg.data.dataset)}"

    def objective(temperature: float) -> float:
        seed_everything(cfg.seed)  # every trial starts from the same state: only T differs
        student, _ = distill(cfg.student, teacher, split, ctx, temperature, "temperature_trial",
                             epochs=search.trial_epochs, checkpoint=False, check=False, frozen=frozen)
        features = val_features if frozen is not None else None
        return validate(student, split, ctx.device, features, student.score if features else None)[key]

    def report(trial) -> None:
        tqdm.write(f"temperature search: T={trial.temperature:.3f} -> {key}={trial.score:.2f}")

    result = search_temperature(objective, search, seed=cfg.seed, progress=report if ctx.progress else None)
    result.objective = f"student {key} after {search.trial_epochs} epochs (%)"
    return result


def student_extras(student: torch.nn.Module, temperature: float | None, distilled: bool,
                   audio_rule: bool | dict = False) -> dict:
    """What export needs beside the weights: input geometry, the QACM window and, for a student
    with an audio encoder, the feature rule of its sound (`AudioSpec`, the bundle's ``audio``)."""
    extras = {"temperature": temperature, "distilled": distilled,
              "snippet_frames": SNIPPET_FRAMES, "window": student.qacm.receptive_field,
              "input": student.cfg.input}
    if student.audio is not None:
        extras["audio"] = audio_spec(audio_rule, student.audio.embedding_dim).to_dict()
    if student.backbone is not None:
        bb = student.backbone.cfg
        extras.update(input_size=bb.input_size, mean=list(bb.mean), std=list(bb.std))
    return extras


def calibrate(student: torch.nn.Module, split: Split, method: str, device: torch.device) -> dict:
    """The alarm threshold on the student's validation probabilities (calibration.json)."""
    if split.val is None:
        return {"threshold": 0.5, "method": method, "note": "no validation split; default 0.5"}
    scores, labels, level = validation_scores(predict(student, split.val, device), split)
    return {**choose_threshold(scores, labels, method), "level": level, "split": "validation"}
