# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""coarse_node: the always-on coarse stage on a camera topic (paper §IV.A).

Subscribes to the camera (sensor_msgs/Image, or CompressedImage on ``<image_topic>/compressed``)
and publishes, relative to its namespace:

- ``anomaly`` (tcvads_msgs/AnomalyEvent, reliable, transient-local depth 10): one message per
  event start / update / end with the header of the camera frame that caused it, written to the
  event store first; ``anomaly/json`` (std_msgs/String, same QoS): the same as the JSON document
  the store keeps (`event_schema.ANOMALY_SCHEMA`), for scripts;
- ``anomaly/heatmap`` (sensor_msgs/Image rgb8): the CAM over the newest scored frame, rendered
  only while someone subscribes;
- with ``fine_stage_in_process:=true`` also ``anomaly/category`` and ``anomaly/explanation``
  (see fine_node), from the pipeline's own fine worker on this node's frame buffer;
- ``/diagnostics``.

Frames are numbered from their header stamps (`FrameClock`) and only the one frame per snippet
the backbone runs on is decoded (`TwoStagePipeline.select` decides from the number). All
decisions are made by `TwoStagePipeline` and the plain functions of `messages`; this file only
moves messages in and out. The bundle and backend load in the constructor, before spinning.
"""

from __future__ import annotations

from typing import Any

from sensor_msgs.msg import Image
from std_msgs.msg import String
from tcvads_msgs.msg import AnomalyEvent as AnomalyEventMsg

from tcvads_ros.errors import ConfigError
from tcvads_ros.nodes import parameters
from tcvads_ros.nodes.common import EVENT_QOS, TYPES, VIEW_QOS, TcvadsNode, main_for
from tcvads_ros.nodes.messages import anomaly_json_fields, anomaly_message, image_fields, ros_bytes
from tcvads_ros.runtime.bundle import COARSE_GRAPHS, FINE_GRAPHS, Bundle
from tcvads_ros.runtime.event_store import crash_ends
from tcvads_ros.runtime.events import AnomalyEvent, EventConfig, gap_problem
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.heatmap import overlay
from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline
from tcvads_ros.runtime.site_profile import SiteProfile, bundle_threshold, event_settings


class CoarseNode(TcvadsNode):
    def __init__(self, **node_options: Any) -> None:
        self.pipeline: TwoStagePipeline | None = None
        self._owed: list[AnomalyEvent] = []  # ends found at configure, announced at activate
        super().__init__(parameters.COARSE, **node_options)

    # -- lifecycle ----------------------------------------------------------------------------
    def load(self) -> None:
        values = self.values
        self.bundle = Bundle.load(values["bundle"])
        # What the -1 thresholds and the timings left at their defaults stand for: a site
        # profile's settings, else the bundle's threshold (`site_profile.event_settings`).
        path = values["site_profile"].strip()
        # Its fine files are checked only where the fine stage runs here (else fine_node's concern).
        self.profile = SiteProfile.load_for(path, self.bundle, where=f"site_profile {path}",
                                            fine=values["fine_stage_in_process"]) if path else None
        cfg = PipelineConfig.for_coarse_node(values, self.event_config(values), parameters.output_dir(values))
        backend = self.make_backend(self.bundle)
        in_process = values["fine_stage_in_process"]
        # Loaded now: a running node never needs the bundle's files again (a bundle replaced or
        # deleted under it changes nothing until a restart).
        backend.load(COARSE_GRAPHS + (FINE_GRAPHS if in_process else ()))
        self.backend_name = backend.describe()
        self.store = self.open_store()
        self.pipeline = TwoStagePipeline(
            self.bundle, backend, cfg, stores=[self.store],
            on_explanation=self.publish_explanation if in_process else None, stats=self.counts,
        )
        self.anomaly = self.create_output(AnomalyEventMsg, "anomaly", EVENT_QOS)
        self.anomaly_json = self.create_output(String, "anomaly/json", EVENT_QOS)
        self.heatmap = self.create_output(Image, "anomaly/heatmap", VIEW_QOS)
        if in_process:
            self.create_explanation_outputs()
        self._heat_index = -1
        # Events a killed predecessor left open in the store end now, stored, and announced at
        # activate (reason "crash"): no start stays without an end.
        for end in crash_ends(self.store):
            self.get_logger().warning(f"event {end.event_id[:8]} was left open by a previous run (crash): "
                                      f"ended at its last known frame {end.end_frame - 1}")
            self._owed.append(end)
        events = cfg.events
        self.get_logger().info(
            f"bundle {self.bundle.root} verified; backend {self.backend_name}; "
            f"threshold on {events.threshold_on:.3f} / off {events.threshold_off:.3f}"
            f"{' (site profile ' + values['site_profile'] + ')' if values['site_profile'] else ''}; "
            f"fine stage {'in this process' if in_process else 'in fine_node'}; "
            f"events stored in {self.store.path}"
        )

    def activated(self) -> None:
        while self._owed:
            self._publish(self._owed.pop(0))

    def pause(self) -> int:
        """The open event ends with reason ``paused``, stored and announced; a half-collected clip
        is explained with the frames that came."""
        events = self.pipeline.pause()
        for event in events:
            self._publish(event)
        return sum(event.kind == "end" for event in events)

    def finish(self) -> None:
        """End the open event (stored, then published) and let the in-process fine stage finish
        its queued clips, all while the context can still publish."""
        for event in self.pipeline.close(timeout=30.0):
            self._publish(event)
        self.store.close()

    def unload(self) -> None:
        self.pipeline = self.store = self.heatmap = self.anomaly = self.anomaly_json = None

    # -- parameters ---------------------------------------------------------------------------
    def event_config(self, values: dict[str, Any]) -> EventConfig:
        """The event settings of these parameter values; ConfigError where they cannot work,
        including a gap_timeout_s shorter than this camera's snippets allow (when its rate is
        known: given, or estimated by now)."""
        cfg = event_settings(bundle_threshold(self.bundle), self.profile, **parameters.event_arguments(values))
        problem = self.gap_problem(cfg)
        if problem:
            raise ConfigError(problem)
        return cfg

    def gap_problem(self, cfg: EventConfig) -> str | None:
        """`events.gap_problem` for the camera's rate: `camera_fps`, else the estimate (None
        while there is none)."""
        with self._clock_lock:
            fps = self.values["camera_fps"] or (self.clock.fps if self.clock.calibrated else None)
        if not fps:
            return None
        return gap_problem(cfg.gap_timeout_s, self.bundle.manifest.snippet_frames / fps)

    def config_problem(self) -> str | None:
        return self.gap_problem(self.pipeline.event_config) if self.pipeline is not None else None

    def check_change(self, changes: dict[str, Any]) -> str | None:
        if self.bundle is None:  # unconfigured: checked against the bundle at configure
            return None
        try:
            self.event_config({**self.values, **changes})
        except (ConfigError, ValueError) as error:
            return str(error)
        return None

    def apply_change(self, changes: dict[str, Any]) -> None:
        if self.pipeline is not None:  # else read at the next configure
            self.pipeline.set_event_config(self.event_config(self.values))

    # -- frames -------------------------------------------------------------------------------
    def wants(self, number: int) -> bool:
        return self.pipeline.select(number)

    def process(self, frame: Frame) -> None:
        for event in self.pipeline.process(frame):
            self._publish(event)
        if self.heatmap.get_subscription_count() > 0:
            self._publish_heatmap()

    def _publish(self, event: AnomalyEvent) -> None:
        self.anomaly.publish(anomaly_message(TYPES, event))
        self.anomaly_json.publish(String(**anomaly_json_fields(event)))

    def _publish_heatmap(self) -> None:
        newest = self.pipeline.newest_snippet()
        if newest is None or newest.frame.index == self._heat_index or newest.frame.header is None:
            return
        self._heat_index = newest.frame.index
        fields = image_fields(newest.frame.header, overlay(newest.frame.rgb, newest.cam, self.values["heatmap_alpha"]))
        fields["data"] = ros_bytes(fields["data"])
        self.heatmap.publish(Image(**fields))


main = main_for(CoarseNode, parameters.COARSE)

if __name__ == "__main__":
    main()
