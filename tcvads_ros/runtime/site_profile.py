# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""A stream's event settings: the bundle's threshold, or a site profile's settings, and overrides.

`event_settings` is the one rule by which `tcvads detect` and coarse_node (and every script)
choose the event state machine's settings (see its docstring).

A site profile is the event settings `tcvads calibrate` chose for one camera site and bundle: a
small JSON file that `tcvads detect --site PROFILE` and coarse_node (`site_profile` parameter)
read in place of the bundle's threshold and the default timings:

```json
{"format": "tcvads-site-profile", "version": 1,
 "coarse_graphs": {"coarse_backbone.onnx": "<sha256>", "coarse_qacm.onnx": "<sha256>"},
 "events": {"threshold_on": 0.93, "threshold_off": 0.81, "min_duration_s": 0.5, ...},
 "calibration": {"false_alarms_per_hour": 2.0, "hours": 3.1, "alarms": 1, ...}}
```

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
from tcvads_ros.runtime.bundle import COARSE_GRAPHS, Bundle
from tcvads_ros.runtime.events import EventConfig, threshold_problem

FORMAT = "tcvads-site-profile"
VERSION = 1


def coarse_graph_hashes(bundle: Bundle) -> dict[str, str]:
    """{file name: sha256} of the graphs the coarse scores come from."""
    return {bundle.path(g).name: bundle.sha256(g) for g in COARSE_GRAPHS}


@dataclass
class SiteProfile:
    events: EventConfig
    coarse_graphs: dict[str, str]
    calibration: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "coarse_graphs": dict(self.coarse_graphs),
                "events": asdict(self.events), "calibration": self.calibration}

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
        unknown = set(data) - {"format", "version", "coarse_graphs", "events", "calibration"}
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
        graphs = data.get("coarse_graphs")
        if (not isinstance(graphs, dict) or len(graphs) != len(COARSE_GRAPHS)
                or not all(isinstance(v, str) for v in graphs.values())):
            raise ConfigError(f"{path}: 'coarse_graphs' must map the {len(COARSE_GRAPHS)} coarse graph "
                              "files to their sha256")
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
        return cls(cfg, dict(graphs), calibration)

    def check_bundle(self, bundle: Bundle, where: str = "site profile") -> None:
        """Refuse a bundle whose coarse graphs are not the ones this profile was calibrated on."""
        if coarse_graph_hashes(bundle) != self.coarse_graphs:
            raise ConfigError(
                f"{where} was calibrated for other coarse graphs than those of bundle {bundle.root} "
                "(another training run or backbone); run `tcvads calibrate` with this bundle"
            )

    @classmethod
    def load_for(cls, path: str | Path, bundle: Bundle, where: str | None = None) -> SiteProfile:
        """`load`, refused for a bundle whose coarse graphs are not the profile's (`check_bundle`)."""
        profile = cls.load(path)
        profile.check_bundle(bundle, where=where or f"site profile {path}")
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
