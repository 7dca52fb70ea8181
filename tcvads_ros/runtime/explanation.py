# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The explanation document the fine stage publishes for an event (versioned schema).

It says what the fine stage concluded and why (paper §IV.B, "explainable"): the category and
its probability, every class's score, the captions of the caption bank that best matched the
clip (CLIP similarity; the "CLIP native text" of the triplet prompt), the time and frame range
of the clip, the coarse stage's heat map, and which bundle and backend produced it; and its
second opinion on the coarse stage's alarm: the fine anomaly score (1 - p(Normal), the rule of
VadCLIP's anomaly confidence) and the verdict at the fine threshold, ``confirmed`` or
``disputed`` (docs/explanation.md, "The second opinion"); and, for a bundle that listens, what the
sound did (`SoundEvidence`, docs/audio.md): whether it drove the coarse score (the score at the
event's peak as heard against the score with the audio part of the QACM's window zeroed) and the
loudest impulse heard ("loud impulse at 12.30s").

`to_json()` is the machine form (stored in the event store, one JSON object); `to_text()` is
the human form published for ``ros2 topic echo``. Its first line is a self-contained headline
of at most 128 characters, because ``ros2 topic echo`` truncates strings at 128 characters
unless run with ``--full-length``. The schema is documented in docs/explanation.md;
bump `SCHEMA_VERSION` on any change a reader would notice.
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from tcvads_ros.errors import TcvadsError
from tcvads_ros.runtime.audio import IMPULSE_RISE_DB

SCHEMA_VERSION = 3
# Versions a reader reads: version 1 (no second opinion) is read back with the fine anomaly score
# derived from its class scores and no verdict; versions 1 and 2 (no sound) with ``sound`` null.
READABLE_VERSIONS = (1, 2, 3)
SECOND_OPINION_FIELDS = ("fine_anomaly_score", "verdict", "fine_threshold")
# The fields each version added, which an older document must not carry.
ADDED_IN = {"fine_anomaly_score": 2, "verdict": 2, "fine_threshold": 2, "sound": 3}
# The sound drove the coarse score where taking it away lowers the score at the event's peak by
# at least this much (probability points).
SOUND_DROVE = 0.1
NORMAL_CLASS = "Normal"  # the class whose probability says "no anomaly" (training's NORMAL)
VERDICTS = ("confirmed", "disputed", "")  # "": no verdict (a version-1 record)
# The fine threshold where neither a site profile nor the bundle names one (`thresholds.fine` in
# its manifest): an alarm is confirmed unless the fine stage gives Normal half or more.
DEFAULT_FINE_THRESHOLD = 0.5
HEADLINE_CHARS = 128  # ros2 topic echo's default --truncate-length


class ExplanationError(TcvadsError):
    """An explanation document is malformed (or from a newer, unknown schema)."""


@dataclass
class RetrievedCaption:
    """A caption of the caption bank and its CLIP cosine similarity to the clip."""

    text: str
    similarity: float


def _finite(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExplanationError(f"explanation field '{name}' must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not low <= value <= high:
        raise ExplanationError(
            f"explanation field '{name}' must be a finite number in [{low}, {high}], got {value}"
        )
    return value


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ExplanationError(
            f"explanation field '{name}' must be a non-negative integer, got {value!r}"
        )
    return value


def _text(name: str, value: Any, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value):
        raise ExplanationError(
            f"explanation field '{name}' must be a non-empty string, got {value!r}"
        )
    return value


def fine_anomaly_score(class_scores: dict[str, float]) -> float:
    """The fine stage's anomaly score of a clip: 1 - p(Normal), VadCLIP's anomaly confidence
    (1 - the similarity to the normal class) on the fine stage's class probabilities; 1.0 where
    the bundle has no Normal class (nothing speaks for "no anomaly")."""
    return min(1.0, max(0.0, 1.0 - float(class_scores.get(NORMAL_CLASS, 0.0))))


def verdict_of(score: float, threshold: float) -> str:
    """``confirmed`` where the fine anomaly score reaches the fine threshold, else ``disputed``."""
    return "confirmed" if score >= threshold else "disputed"


@dataclass
class SoundEvidence:
    """What the sound did for an event (a bundle with an audio branch; docs/audio.md).

    Args:
        heard: the share of the clip's snippets whose window of sound was heard at all.
        score: the coarse score at the event's peak, as heard (None: not known).
        score_without_sound: the same with the audio part of the QACM's window zeroed, the
            vision-only score (None: not computed).
        impulse: the loudest short sound heard from the window before the event's start on:
            ``{stamp, peak_dbfs, rise_db}`` (stream seconds; its sample peak, dB relative to full
            scale; how far it stood above the window's background, dB), or None where nothing was.
        drove: derived, and checked on reading: the score fell by `SOUND_DROVE` or more without
            the sound.
    """

    heard: float
    score: float | None = None
    score_without_sound: float | None = None
    impulse: dict[str, float] | None = None
    drove: bool | None = None

    def __post_init__(self) -> None:
        self.heard = _finite("sound.heard", self.heard, 0.0, 1.0)
        for name in ("score", "score_without_sound"):
            if getattr(self, name) is not None:
                setattr(self, name, _finite(f"sound.{name}", getattr(self, name), 0.0, 1.0))
        if self.impulse is not None:
            if not isinstance(self.impulse, dict) or set(self.impulse) != {"stamp", "peak_dbfs", "rise_db"}:
                raise ExplanationError(f"explanation field 'sound.impulse' must be {{stamp, peak_dbfs, rise_db}}, "
                                       f"got {self.impulse!r}")
            self.impulse = {"stamp": _finite("sound.impulse.stamp", self.impulse["stamp"]),
                            "peak_dbfs": _finite("sound.impulse.peak_dbfs", self.impulse["peak_dbfs"], -400.0, 0.0),
                            "rise_db": _finite("sound.impulse.rise_db", self.impulse["rise_db"], 0.0, 400.0)}
        drove = self.contribution is not None and self.contribution >= SOUND_DROVE
        if self.drove is not None and bool(self.drove) != drove:
            raise ExplanationError(f"sound.drove {self.drove!r} contradicts its scores ({self.score} as heard, "
                                   f"{self.score_without_sound} without sound)")
        self.drove = drove

    @property
    def contribution(self) -> float | None:
        """How much the sound raised the score at the peak (negative: it lowered it)."""
        if self.score is None or self.score_without_sound is None:
            return None
        return self.score - self.score_without_sound

    def impulse_text(self) -> str:
        """``loud impulse at 12.30s (-3 dBFS, 31 dB above the background)``, or the loudest sound."""
        if self.impulse is None:
            return "nothing heard" if not self.heard else "no impulse heard"
        what = "loud impulse" if self.impulse["rise_db"] >= IMPULSE_RISE_DB else "loudest sound"
        return (f"{what} at {format_time(self.impulse['stamp'])} ({self.impulse['peak_dbfs']:.0f} dBFS, "
                f"{self.impulse['rise_db']:.0f} dB above the background)")

    def to_text(self) -> str:
        """The explanation's ``sound:`` line."""
        if self.contribution is None:
            scores = ""
        else:
            scores = f"score {self.score:.2f} as heard, {self.score_without_sound:.2f} without sound; "
        lead = "drove the score" if self.drove else f"heard in {self.heard:.0%} of the clip"
        return f"{lead}: {scores}{self.impulse_text()}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> SoundEvidence:
        if isinstance(data, SoundEvidence):
            return data
        if not isinstance(data, dict) or not set(data) <= set(cls.__dataclass_fields__) or "heard" not in data:
            raise ExplanationError(f"explanation field 'sound' must be an object with 'heard', got {data!r}")
        return cls(**data)


@dataclass
class Explanation:
    """Why the fine stage labelled an event as it did. Validated on construction.

    Args:
        event_id: the id of the `AnomalyEvent` this explains.
        category: the winning class name (a key of `class_scores`).
        probability: the category's video-level probability, in [0, 1].
        class_scores: every class name -> its probability, in [0, 1].
        captions: the retrieved captions, most similar first.
        start_stamp, end_stamp: seconds covered by the analysed clip (end >= start).
        start_frame, end_frame: frames covered, half-open ``[start_frame, end_frame)``.
        backend: inference backend used (``onnxruntime``, ``tensorrt``, ``torch``).
        bundle: the bundle used (its name or path, and version where known).
        heatmap_path: the heat-map PNG of the event's peak frame, if one was written.
        peak_frame: the frame the heat map was drawn from.
        coarse_peak_score: the coarse stage's highest score during the event.
        fine_anomaly_score: the fine stage's anomaly score, 1 - p(Normal), in [0, 1]; derived
            from `class_scores` when not given (`fine_anomaly_score`).
        verdict: the second opinion on the coarse alarm: ``confirmed`` (fine_anomaly_score >=
            fine_threshold), ``disputed``, or ``""`` where none was given.
        fine_threshold: the fine threshold the verdict was given at (None without a verdict).
        sound: what the sound did (`SoundEvidence`); None for a bundle without sound (and in a
            document older than schema 3).
    """

    event_id: str
    category: str
    probability: float
    class_scores: dict[str, float]
    captions: list[RetrievedCaption]
    start_stamp: float
    end_stamp: float
    start_frame: int
    end_frame: int
    backend: str
    bundle: str
    heatmap_path: str | None = None
    peak_frame: int | None = None
    coarse_peak_score: float | None = None
    fine_anomaly_score: float | None = None
    verdict: str = ""
    fine_threshold: float | None = None
    sound: SoundEvidence | None = None
    schema_version: int = field(default=SCHEMA_VERSION)

    def __post_init__(self) -> None:
        if self.schema_version not in READABLE_VERSIONS:
            raise ExplanationError(
                f"explanation schema_version {self.schema_version!r} is not supported by this "
                f"tcvads_ros (it reads versions {', '.join(map(str, READABLE_VERSIONS))}); "
                "upgrade tcvads_ros to read it"
            )
        self.schema_version = SCHEMA_VERSION  # an older document is read as a current one
        _text("event_id", self.event_id)
        _text("category", self.category)
        self.probability = _finite("probability", self.probability, 0.0, 1.0)
        if not isinstance(self.class_scores, dict) or not self.class_scores:
            raise ExplanationError(
                f"explanation field 'class_scores' must be a non-empty mapping, got {self.class_scores!r}"
            )
        self.class_scores = {
            _text("class_scores key", name): _finite(f"class_scores[{name!r}]", score, 0.0, 1.0)
            for name, score in self.class_scores.items()
        }
        if self.category not in self.class_scores:
            raise ExplanationError(
                f"category {self.category!r} is not one of class_scores ({', '.join(self.class_scores)})"
            )
        if not isinstance(self.captions, (list, tuple)):
            raise ExplanationError(
                f"explanation field 'captions' must be a list, got {self.captions!r}"
            )
        self.captions = [self._caption(i, c) for i, c in enumerate(self.captions)]
        self.start_stamp = _finite("start_stamp", self.start_stamp)
        self.end_stamp = _finite("end_stamp", self.end_stamp)
        if self.end_stamp < self.start_stamp:
            raise ExplanationError(
                f"end_stamp {self.end_stamp} is before start_stamp {self.start_stamp}"
            )
        _integer("start_frame", self.start_frame)
        _integer("end_frame", self.end_frame)
        if self.end_frame < self.start_frame:
            raise ExplanationError(
                f"end_frame {self.end_frame} is before start_frame {self.start_frame}"
            )
        _text("backend", self.backend)
        _text("bundle", self.bundle)
        if self.heatmap_path is not None:
            _text("heatmap_path", self.heatmap_path)
        if self.peak_frame is not None:
            _integer("peak_frame", self.peak_frame)
        if self.coarse_peak_score is not None:
            self.coarse_peak_score = _finite("coarse_peak_score", self.coarse_peak_score)
        if self.fine_anomaly_score is None:
            self.fine_anomaly_score = fine_anomaly_score(self.class_scores)
        self.fine_anomaly_score = _finite("fine_anomaly_score", self.fine_anomaly_score, 0.0, 1.0)
        if self.verdict not in VERDICTS:
            raise ExplanationError(
                f"explanation field 'verdict' must be one of {', '.join(map(repr, VERDICTS))}, "
                f"got {self.verdict!r}"
            )
        if self.fine_threshold is not None:
            self.fine_threshold = _finite("fine_threshold", self.fine_threshold, 0.0, 1.0)
        if (self.verdict == "") != (self.fine_threshold is None):
            raise ExplanationError("explanation fields 'verdict' and 'fine_threshold' come together "
                                   f"(got verdict {self.verdict!r}, fine_threshold {self.fine_threshold!r})")
        if self.verdict and self.verdict != verdict_of(self.fine_anomaly_score, self.fine_threshold):
            raise ExplanationError(
                f"verdict {self.verdict!r} contradicts fine_anomaly_score {self.fine_anomaly_score} "
                f"at fine_threshold {self.fine_threshold}"
            )
        if self.sound is not None:
            self.sound = SoundEvidence.from_dict(self.sound)

    @staticmethod
    def _caption(i: int, caption: Any) -> RetrievedCaption:
        if isinstance(caption, RetrievedCaption):
            text, similarity = caption.text, caption.similarity
        elif isinstance(caption, dict) and set(caption) == {"text", "similarity"}:
            text, similarity = caption["text"], caption["similarity"]
        elif isinstance(caption, (list, tuple)) and len(caption) == 2:
            text, similarity = caption
        else:
            raise ExplanationError(f"captions[{i}] must be {{text, similarity}}, got {caption!r}")
        return RetrievedCaption(
            _text(f"captions[{i}].text", text),
            _finite(f"captions[{i}].similarity", similarity, -1.0, 1.0),
        )

    def ranked_scores(self) -> list[tuple[str, float]]:
        """Class scores, highest first."""
        return sorted(self.class_scores.items(), key=lambda item: -item[1])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, tagged ``record_type: explanation`` for the event store."""
        data = asdict(self)
        version = data.pop("schema_version")
        return {"record_type": "explanation", "schema_version": version, **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Explanation:
        """Rebuild (and validate) a document read back from JSON or the event store."""
        if not isinstance(data, dict):
            raise ExplanationError(
                f"an explanation must be a JSON object, got {type(data).__name__}"
            )
        data = {k: v for k, v in data.items() if k != "record_type"}
        if "schema_version" not in data:
            raise ExplanationError("explanation has no schema_version")
        version = data["schema_version"]
        known = set(cls.__dataclass_fields__) - {name for name, added in ADDED_IN.items()
                                                 if isinstance(version, int) and version < added}
        unknown = sorted(set(data) - known)
        if unknown and version in READABLE_VERSIONS:
            raise ExplanationError(
                f"explanation has unknown fields {unknown} for schema {version}"
            )
        missing = sorted(f.name for f in fields(cls) if f.name not in data and f.default is MISSING)
        if missing:
            raise ExplanationError(f"explanation is missing fields {missing}")
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> Explanation:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ExplanationError(f"explanation is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def headline(self) -> str:
        """One line, at most 128 characters: what, how sure, when, which event."""
        verdict = {"confirmed": "confirmed ", "disputed": "DISPUTED "}.get(self.verdict, "")
        if self.sound is not None and self.sound.drove:
            impulse = self.sound.impulse
            verdict += f"sound@{format_time(impulse['stamp'])} " if impulse else "sound "
        line = (
            f"ANOMALY {self.category} p={self.probability:.2f} {verdict}"
            f"t={format_span(self.start_stamp, self.end_stamp)} "
            f"frames {self.start_frame}-{self.end_frame} event {self.event_id[:8]}"
        )
        if len(line) > HEADLINE_CHARS:
            line = line[: HEADLINE_CHARS - 3] + "..."
        return line

    def to_text(self) -> str:
        """A readable multi-line report (headline first) for ``ros2 topic echo`` and logs."""
        duration = self.end_stamp - self.start_stamp
        lines = [
            self.headline(),
            f"event:      {self.event_id}",
            f"category:   {self.category} (probability {self.probability:.3f})",
            f"time:       {format_time(self.start_stamp, full=True)} to {format_time(self.end_stamp, full=True)} "
            f"({duration:.2f} s), "
            f"frames [{self.start_frame}, {self.end_frame})",
            "scores:     "
            + ", ".join(f"{name} {score:.3f}" for name, score in self.ranked_scores()),
        ]
        if self.verdict:
            relation = ">=" if self.verdict == "confirmed" else "<"
            lines.append(f"verdict:    {self.verdict} (fine anomaly score {self.fine_anomaly_score:.3f} "
                         f"{relation} fine threshold {self.fine_threshold:.3f})")
        else:
            lines.append(f"verdict:    none (fine anomaly score {self.fine_anomaly_score:.3f})")
        if self.captions:
            lines.append(
                "scene:      "
                + f'"{self.captions[0].text}" (similarity {self.captions[0].similarity:.3f})'
            )
            lines += [
                f'            "{c.text}" (similarity {c.similarity:.3f})' for c in self.captions[1:]
            ]
        else:
            lines.append("scene:      no caption retrieved")
        if self.coarse_peak_score is not None:
            peak = f" at frame {self.peak_frame}" if self.peak_frame is not None else ""
            lines.append(f"coarse:     peak score {self.coarse_peak_score:.3f}{peak}")
        if self.sound is not None:
            lines.append(f"sound:      {self.sound.to_text()}")
        lines.append(f"heat map:   {self.heatmap_path or 'none'}")
        lines.append(
            f"model:      bundle {self.bundle}, backend {self.backend}, schema {self.schema_version}"
        )
        return "\n".join(lines)


# Stamps from this value on (2001-09-09) are wall-clock time (ROS header stamps from a camera's
# system clock); smaller ones are seconds into a file, a bag or a simulation.
EPOCH_STAMPS = 1e9


def format_time(stamp: float, full: bool = False) -> str:
    """A stamp for people: UTC clock time for wall-clock stamps (with the date when `full`),
    else seconds into the stream."""
    if stamp < EPOCH_STAMPS:
        return f"{stamp:.3f} s" if full else f"{stamp:.2f}s"
    moment = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
    clock = moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 10000:02d}"
    return moment.strftime("%Y-%m-%d ") + clock + " UTC" if full else clock


def format_span(start: float, end: float) -> str:
    """`start`-`end` as in the headline: ``12.40-15.90s`` or ``11:04:12.08-11:04:22.08UTC``."""
    if start < EPOCH_STAMPS:
        return f"{start:.2f}-{end:.2f}s"
    return f"{format_time(start)}-{format_time(end)}UTC"
