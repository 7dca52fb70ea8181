# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A stream's event settings: the bundle's threshold, or a site profile's settings, and overrides.

`event_settings` is the one rule by which `tcvads detect` and coarse_node (and every script)
choose the event state machine's settings (see its docstring); `verdict_settings` is its twin for
the fine stage's second opinion (the fine threshold of the verdict, and whether `/anomaly` waits
for it: `SecondOpinion`).

A site profile is the event settings `tcvads calibrate` chose for one camera site and bundle: a
small JSON file that `tcvads detect --site PROFILE` and coarse_node (`site_profile` parameter)
read in place of the bundle's threshold and the default timings:

```json
{"format": "tcvads-site-profile", "version": 1,
 "coarse_graphs": {"coarse_backbone.onnx": "<sha256>", "coarse_qacm.onnx": "<sha256>"},
 "events": {"threshold_on": 0.93, "threshold_off": 0.81, "min_duration_s": 0.5, ...},
 "second_opinion": {"fine_threshold": 0.78, "confirm_with_fine": false,
                    "fine_files": {"fine_image.onnx": "<sha256>", "fine_temporal.onnx": "<sha256>",
                                   "text_table.safetensors": "<sha256>"}},
 "calibration": {"false_alarms_per_hour": 2.0, "hours": 3.1, "alarms": 1, ...}}
```

`second_opinion` is optional (`tcvads calibrate --second-opinion` writes it): the fine scores, and
so the fine threshold, depend on the fine graphs and the text table, which it names; a profile
whose fine files are not the bundle's is refused too.

The coarse scores, and so the threshold, depend only on the two coarse graphs; a profile names
their sha256 and is refused for a bundle whose coarse graphs differ (another training run, an
INT8 backbone), whatever the fine stage. `calibration` records how the settings were found
(budget, footage, alarms counted, the bound) and is not read back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tcvads_ros.errors import ConfigError
from tcvads_ros.runtime.bundle import COARSE_GRAPHS, FINE_GRAPHS, TEXT_TABLE, Bundle
from tcvads_ros.runtime.events import EventConfig, threshold_problem
from tcvads_ros.runtime.explanation import DEFAULT_FINE_THRESHOLD

FORMAT = "tcvads-site-profile"
VERSION = 1


def coarse_graph_hashes(bundle: Bundle) -> dict[str, str]:
    """{file name: sha256} of the graphs the coarse scores come from (the audio graph too, in a
    bundle with sound: `Bundle.coarse_graphs`)."""
    return {bundle.path(g).name: bundle.sha256(g) for g in bundle.coarse_graphs}


def fine_file_hashes(bundle: Bundle) -> dict[str, str]:
    """{file name: sha256} of the files the fine scores come from (graphs and text table)."""
    return {bundle.path(name).name: bundle.sha256(name) for name in (*FINE_GRAPHS, TEXT_TABLE)}


@dataclass
class SecondOpinion:
    """The fine stage's second opinion on each coarse alarm (docs/explanation.md).

    Args:
        fine_threshold: an alarm is ``confirmed`` where its clip's fine anomaly score
            (1 - p(Normal)) reaches this, else ``disputed``.
        confirm_with_fine: where the fine stage runs in process, `/anomaly` (and `tcvads detect`)
            holds each event's start until its verdict, and announces it with the verdict, disputed
            ones too (never hidden); False announces at once, the verdict following in the
            explanation.
    """

    fine_threshold: float = DEFAULT_FINE_THRESHOLD
    confirm_with_fine: bool = False

    def __post_init__(self) -> None:
        value = self.fine_threshold
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ConfigError(f"fine_threshold must be a number in [0, 1], got {value!r}")
        self.fine_threshold = float(value)
        if not isinstance(self.confirm_with_fine, bool):
            raise ConfigError(f"confirm_with_fine must be true or false, got {self.confirm_with_fine!r}")


@dataclass
class SiteProfile:
    events: EventConfig
    coarse_graphs: dict[str, str]
    calibration: dict[str, Any] = field(default_factory=dict)
    second_opinion: SecondOpinion | None = None
    fine_files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {"format": FORMAT, "version": VERSION, "coarse_graphs": dict(self.coarse_graphs),
                "events": asdict(self.events)}
        if self.second_opinion is not None:
            data["second_opinion"] = {**asdict(self.second_opinion), "fine_files": dict(self.fine_files)}
        return {**data, "calibration": self.calibration}

    def save(self, path: str | Path) -> Path:
        """Write the profile (to a temporary name first, so a crash leaves no half file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SiteProfile:
        """Read and validate a profile; ConfigError naming the file and the key otherwise."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: no such site profile (write one with `tcvads calibrate`)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(f"{path}: not a readable JSON site profile ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"{path}: not a site profile ('format' must be '{FORMAT}')")
        if data.get("version") != VERSION:
            raise ConfigError(f"{path}: site profile version {data.get('version')!r}; this tcvads_ros "
                              f"reads version {VERSION}; calibrate again")
        unknown = set(data) - {"format", "version", "coarse_graphs", "events", "second_opinion", "calibration"}
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
        graphs = data.get("coarse_graphs")
        if (not isinstance(graphs, dict) or len(graphs) not in (len(COARSE_GRAPHS), len(COARSE_GRAPHS) + 1)
                or not all(isinstance(v, str) for v in graphs.values())):
            raise ConfigError(f"{path}: 'coarse_graphs' must map the {len(COARSE_GRAPHS)} coarse graph "
                              "files (and the audio graph, for a bundle with sound) to their sha256")
        events = data.get("events")
        names = {f.name for f in fields(EventConfig)}
        if not isinstance(events, dict) or set(events) != names:
            raise ConfigError(f"{path}: 'events' must hold exactly {', '.join(sorted(names))}")
        for name, value in events.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{path}: 'events.{name}' must be a finite number, got {value!r}")
        if (not 0.0 <= events["threshold_off"] or not events["threshold_on"] <= 1.0
                or threshold_problem(events["threshold_on"], events["threshold_off"])):
            raise ConfigError(f"{path}: 'events' needs 0 <= threshold_off <= threshold_on <= 1")
        try:
            cfg = EventConfig(**{k: float(v) for k, v in events.items()})
        except ValueError as exc:
            raise ConfigError(f"{path}: 'events': {exc}") from exc
        calibration = data.get("calibration", {})
        if not isinstance(calibration, dict):
            raise ConfigError(f"{path}: 'calibration' must be a mapping")
        opinion, fine_files = cls._second_opinion(path, data.get("second_opinion"))
        return cls(cfg, dict(graphs), calibration, opinion, fine_files)

    @staticmethod
    def _second_opinion(path: Path, section: Any) -> tuple[SecondOpinion | None, dict[str, str]]:
        if section is None:
            return None, {}
        names = {"fine_threshold", "confirm_with_fine", "fine_files"}
        if not isinstance(section, dict) or set(section) != names:
            raise ConfigError(f"{path}: 'second_opinion' must hold exactly {', '.join(sorted(names))}")
        files = section["fine_files"]
        if not isinstance(files, dict) or not files or not all(isinstance(v, str) for v in files.values()):
            raise ConfigError(f"{path}: 'second_opinion.fine_files' must map the fine files to their sha256")
        threshold = section["fine_threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"{path}: 'second_opinion.fine_threshold' must be a number in [0, 1], "
                              f"got {threshold!r}")
        if not isinstance(section["confirm_with_fine"], bool):
            raise ConfigError(f"{path}: 'second_opinion.confirm_with_fine' must be true or false")
        return SecondOpinion(float(threshold), section["confirm_with_fine"]), dict(files)

    def check_bundle(self, bundle: Bundle, where: str = "site profile", fine: bool = True) -> None:
        """Refuse a bundle whose coarse graphs are not the ones this profile was calibrated on, or,
        where the profile holds a fine threshold and `fine` (the fine stage runs), whose fine
        graphs and text table are not."""
        if coarse_graph_hashes(bundle) != self.coarse_graphs:
            raise ConfigError(
                f"{where} was calibrated for other coarse graphs than those of bundle {bundle.root} "
                "(another training run or backbone); run `tcvads calibrate` with this bundle"
            )
        if fine and self.second_opinion is not None and fine_file_hashes(bundle) != self.fine_files:
            raise ConfigError(
                f"{where} holds a fine threshold calibrated for other fine graphs or another text "
                f"table than those of bundle {bundle.root} (another training run, or `tcvads "
                "bundle` edited its classes); run `tcvads calibrate --second-opinion` with this bundle"
            )

    @classmethod
    def load_for(cls, path: str | Path, bundle: Bundle, where: str | None = None, fine: bool = True) -> SiteProfile:
        """`load`, refused for a bundle whose coarse graphs (and, with `fine`, fine files) are not
        the profile's (`check_bundle`)."""
        profile = cls.load(path)
        profile.check_bundle(bundle, where=where or f"site profile {path}", fine=fine)
        return profile


def bundle_threshold(bundle: Bundle) -> float:
    """The bundle's calibrated coarse alarm threshold (0.5 where the manifest has none)."""
    return float(bundle.manifest.thresholds.get("coarse", 0.5))


def event_settings(bundle_on: float, profile: SiteProfile | None = None, *, threshold_on: float | None = None,
                   threshold_off: float | None = None, timings: Mapping[str, float] | None = None) -> EventConfig:
    """The event state machine's settings of a stream, by one rule:

    - timings: those in `timings`, else the site profile's, else `EventConfig`'s defaults;
    - the alarm threshold: `threshold_on` where given, else the profile's, else `bundle_on`
      (the bundle's calibrated one, `bundle_threshold`);
    - the end threshold: `threshold_off` where given, else the profile's where its alarm
      threshold applies, else `events.HYSTERESIS` times the alarm threshold
      (`EventConfig.with_threshold`).

    Raises ConfigError when the end threshold would exceed the alarm threshold.
    """
    base = replace(profile.events if profile is not None else EventConfig(), **(timings or {}))
    if threshold_on is not None:
        on, off, source = float(threshold_on), threshold_off, ""
    elif profile is not None:
        on = profile.events.threshold_on
        off = profile.events.threshold_off if threshold_off is None else threshold_off
        source = "the site profile's"
    else:
        on, off, source = float(bundle_on), threshold_off, "the bundle's"
    if off is not None and (problem := threshold_problem(on, float(off), source)):
        raise ConfigError(problem)
    return base.with_threshold(on, off)


def bundle_events(bundle: Bundle, threshold: float | None = None) -> EventConfig:
    """`event_settings` without a site profile: the default timings and `threshold`, or the
    bundle's calibrated threshold when None."""
    return event_settings(bundle_threshold(bundle), threshold_on=threshold)


def bundle_fine_threshold(bundle: Bundle) -> float:
    """The bundle's fine threshold (`thresholds.fine` in its manifest), else
    `explanation.DEFAULT_FINE_THRESHOLD`."""
    return float(bundle.manifest.thresholds.get("fine", DEFAULT_FINE_THRESHOLD))


def verdict_settings(bundle_fine: float, profile: SiteProfile | None = None, *,
                     fine_threshold: float | None = None,
                     confirm_with_fine: bool | None = None) -> SecondOpinion:
    """The second opinion's settings of a stream, by the rule of `event_settings`: what is given
    explicitly (a command-line option, a parameter) wins, else the site profile's
    `second_opinion`, else the bundle's fine threshold (`bundle_fine_threshold`) and
    ``confirm_with_fine`` off."""
    base = (profile.second_opinion if profile is not None and profile.second_opinion is not None
            else SecondOpinion(float(bundle_fine)))
    return SecondOpinion(
        base.fine_threshold if fine_threshold is None else float(fine_threshold),
        base.confirm_with_fine if confirm_with_fine is None else bool(confirm_with_fine),
    )
