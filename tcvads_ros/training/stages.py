# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Runs the stages of `tcvads train` in order over the run's data (the run folder: run_folder.py)."""

from __future__ import annotations

from pathlib import Path

import torch

from tcvads_ros.configuration import to_mapping
from tcvads_ros.errors import ConfigError, DataError
from tcvads_ros.models.registry import create_model
from tcvads_ros.training import audio_cache, coarse, experiment, fine_stage
from tcvads_ros.training.run_folder import RunFolder, seed_everything
from tcvads_ros.training.temperature_search import TemperatureSearch, Trial
from tcvads_ros.training.train_config import TrainConfig
from tcvads_ros.training.trainer import Context, best_of, main_first


def coarse_split(cfg: TrainConfig, lists: experiment.Lists, cache: Path, ctx: Context) -> experiment.Split:
    """Coarse data for the configured teacher and student (they must read the same input)."""
    teacher = create_model(coarse.TEACHER, **cfg.teacher.model)
    student = create_model(coarse.STUDENT, **cfg.student.model)
    check_audio(cfg, {"teacher": teacher, "student": student})
    if teacher.cfg.input != student.cfg.input:
        raise ConfigError(f"teacher.model.input ({teacher.cfg.input}) and student.model.input "
                          f"({student.cfg.input}) must be the same")
    if teacher.backbone is None and (cfg.teacher.pretrained_backbone is not None or cfg.teacher.freeze_backbone):
        raise ConfigError("teacher.pretrained_backbone / teacher.freeze_backbone: this teacher reads "
                          "features and has no backbone; set teacher.model.input=frames")
    if cfg.teacher.freeze_backbone and cfg.teacher.pretrained_backbone is None:
        raise ConfigError("teacher.freeze_backbone: a frozen, randomly initialised backbone gives the "
                          "teacher nothing to learn from; set teacher.pretrained_backbone=PATH (a "
                          "torchvision MobileNetV2 file, or one `tcvads pretrain-backbone` writes) or "
                          "teacher.freeze_backbone=false")
    if cfg.teacher.freeze_backbone and cfg.teacher.supervision == "snippet":
        raise ConfigError("teacher.freeze_backbone trains on fixed features with video labels; "
                          "set teacher.supervision=video")
    if teacher.backbone is not None and teacher.cfg.backbone.input_size != student.cfg.backbone.input_size:
        raise ConfigError("teacher.model.backbone.input_size and student.model.backbone.input_size differ")
    return coarse_data(cfg, lists, cache, teacher, ctx.progress and ctx.is_main,
                       hears=any(m.audio is not None for m in (teacher, student)))


def check_audio(cfg: TrainConfig, models: dict[str, torch.nn.Module]) -> None:
    """A model with an audio branch needs sound in the data, in the shape the data's rule makes."""
    listening = {name: m for name, m in models.items() if m.audio is not None}
    if not listening:
        return
    names = " and ".join(f"{name}.model.audio" for name in listening)
    if cfg.data.audio is False:
        raise ConfigError(f"{names} is set but data.audio is false: set data.audio=true (the videos' sound, "
                          "docs/audio.md) or remove the audio branch")
    if cfg.data.kind == "features":
        raise ConfigError(f"{names}: the audio branch reads the videos' sound; data.kind 'features' has none "
                          "(use data.kind videos or synthetic)")
    if cfg.data.kind == "synthetic" and not cfg.data.synth.audio:
        raise ConfigError("data.audio: the synthetic benchmark has sound only when generated with it; "
                          "set data.synth.audio=true (tcvads synth --audio)")
    n_mels = audio_cache.audio_spec(cfg.data.audio).n_mels
    for name, model in listening.items():
        have = model.cfg.audio.n_mels
        if have != n_mels:
            raise ConfigError(f"{name}.model.audio.n_mels is {have} but data.audio's rule makes {n_mels} "
                              "mel bands; make them equal")


def coarse_data(cfg: TrainConfig, lists: experiment.Lists, cache: Path, model: torch.nn.Module,
                progress: bool, hears: bool | None = None) -> experiment.Split:
    """The datasets `model` reads: cached frames at its backbone's input size, or the features,
    and the videos' sound where `hears` (default: where `model` has an audio branch)."""
    if cfg.data.kind == "features":
        if model.backbone is not None:
            raise ConfigError("data.kind is 'features': set teacher.model.input and student.model.input "
                              "to 'features' (models on precomputed features)")
        train_list, test_list, arrays = lists.train, lists.test, "features"
    else:
        if model.backbone is None:
            raise ConfigError(f"data.kind is '{cfg.data.kind}': the coarse models train end to end on "
                              "frames; set teacher.model.input and student.model.input to 'frames'")
        size = model.backbone.cfg.input_size
        train_list, test_list = experiment.cached_frames(lists, cache, size, progress,
                                                         cfg.data.frames_per_snippet)
        arrays = "frames"
    sound = None
    if model.audio is not None if hears is None else hears:
        sound = experiment.cached_audio(lists, cache, audio_cache.audio_spec(cfg.data.audio), progress)
    return experiment.build_split(train_list, test_list, cfg.data, arrays, cfg.seed, lists.train_segments,
                                  snippet_labels=cfg.teacher.supervision == "snippet", audio=sound)


def run_stages(cfg: TrainConfig, stages: tuple[str, ...], ctx: Context, teacher_run: Path | None = None) -> None:
    folder = ctx.run
    cache = cfg.data.cache_dir or folder.path("cache")
    lists = main_first(ctx, lambda: experiment.source_lists(cfg.data, cache, ctx.progress and ctx.is_main))
    split = None
    if "teacher" in stages or "student" in stages:
        split = main_first(ctx, lambda: coarse_split(cfg, lists, cache, ctx))
    teacher = None
    if "teacher" in stages:
        if ctx.resume and folder.finished("teacher"):
            teacher = folder.load_stage("teacher")
        else:
            seed_everything(cfg.seed)
            teacher = coarse.train_teacher(cfg, split, ctx)
    if "student" in stages:
        if teacher is None:
            source = RunFolder(teacher_run, writable=False) if teacher_run is not None else folder
            if not source.finished("teacher"):
                raise DataError(f"{source.path('teacher.safetensors')}: no trained teacher; train the "
                                "'teacher' stage first or pass --teacher RUN_DIR")
            teacher = source.load_stage("teacher")
        teacher.to(ctx.device)
        if not (ctx.resume and folder.finished("student")):
            train_student(cfg, teacher, split, ctx)
    if "fine" in stages and not (ctx.resume and folder.finished("fine")):
        seed_everything(cfg.seed)
        fine_stage.train_fine(cfg, lists, cache, ctx)


def train_student(cfg: TrainConfig, teacher: torch.nn.Module, split: experiment.Split, ctx: Context) -> None:
    folder = ctx.run
    temperature = cfg.student.temperature
    search_cfg = cfg.student.temperature_search
    frozen = val_features = None
    if cfg.student.freeze_backbone and teacher.backbone is not None:
        if not cfg.student.init_from_teacher:
            raise ConfigError("student.freeze_backbone needs student.init_from_teacher (the frozen "
                              "backbone is the teacher's); set one of them to false")
        frozen = coarse.frozen_backbone_set(teacher, split, ctx)
        val_features = coarse.encoded_validation_set(teacher, split, ctx)
    if cfg.student.distill and search_cfg.enabled:
        result = None
        if ctx.resume and folder.path("temperature_search.json").is_file():
            result = _load_search(folder)
        if result is None:
            result = coarse.choose_temperature(cfg, teacher, split, ctx, frozen, val_features)
            if folder.writable:
                result.save_json(folder.path("temperature_search.json"))
                result.plot(folder.path("temperature_search.png"))
        temperature = result.chosen
    seed_everything(cfg.seed)
    student, history = coarse.distill(cfg.student, teacher, split, ctx, temperature, "student", frozen=frozen,
                                      monitor=f"val_{coarse.primary_metric(cfg.data.dataset)}",
                                      val_features=val_features)
    extras = coarse.student_extras(student, temperature if cfg.student.distill else None, cfg.student.distill,
                                   cfg.data.audio)
    extras.update(best_of(history))
    folder.save_model("student", student, coarse.STUDENT, to_mapping(student.cfg), extras)
    calibration = coarse.calibrate(student, split, cfg.calibration.method, ctx.device)
    folder.write_json("calibration.json", calibration)


def _load_search(folder: RunFolder) -> TemperatureSearch | None:
    data = folder.read_json("temperature_search.json")
    data["trials"] = [Trial(**t) for t in data["trials"]]
    return TemperatureSearch(**data)

