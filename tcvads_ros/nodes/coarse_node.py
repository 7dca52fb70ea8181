# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""coarse_node: the always-on coarse stage on one camera topic or several (paper §IV.A).

Subscribes to the camera (sensor_msgs/Image, or CompressedImage on ``<image_topic>/compressed``),
or to each camera of ``cameras`` (NAME=TOPIC), and, with a bundle that listens, to the camera's
sound (``audio_topic``, or its entry of ``audio_topics``: audio_common_msgs/AudioDataStamped with
its AudioInfo; `microphone.Microphone`), and publishes, relative to its namespace:

- ``anomaly`` (tcvads_msgs/AnomalyEvent, reliable, transient-local depth 10): one message per
  event start / update / end with the header of the camera frame that caused it (its ``stream``
  the camera's name where the node serves several), written to the event store first;
  ``anomaly/json`` (std_msgs/String, same QoS): the same as the JSON document the store keeps
  (`event_schema.ANOMALY_SCHEMA`), for scripts;
- ``anomaly/heatmap`` (``NAME/anomaly/heatmap`` per camera of ``cameras``; sensor_msgs/Image
  rgb8): the CAM over the camera's newest scored frame, rendered only while someone subscribes;
- with ``fine_stage_in_process:=true`` also ``anomaly/category`` and ``anomaly/explanation``
  (see fine_node), from one fine stage (one bounded queue) for every camera;
- ``/diagnostics``: a status per camera (with its sound's counts where it listens).

Frames are numbered from their header stamps (`FrameClock`) and only the one frame per snippet
the backbone runs on is decoded (`TwoStagePipeline.select` decides from the number); each
camera has its own `TwoStagePipeline`, and the cameras' frames of one wake-up of the inference
thread go through the backbone in one batched call (`MultiStreamPipeline`), so each camera's
events are those it would get alone. A camera's sound goes to its pipeline as it arrives
(`TwoStagePipeline.push_audio`, from the audio callback's thread), which aligns it to the frames
by their stamps; a camera without sound, or whose sound stops, is scored from vision only. All
decisions are made by the runtime's pipelines and the plain functions of `messages`; this file
only moves messages in and out. The bundle and backend load at configure (`load`), once for all
cameras.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sensor_msgs.msg import Image
from std_msgs.msg import String
from tcvads_msgs.msg import AnomalyEvent as AnomalyEventMsg

from tcvads_ros.errors import ConfigError
from tcvads_ros.nodes import parameters
from tcvads_ros.nodes.camera import Camera
from tcvads_ros.nodes.common import EVENT_QOS, TYPES, VIEW_QOS, TcvadsNode, main_for
from tcvads_ros.nodes.messages import anomaly_json_fields, anomaly_message, image_fields, ros_bytes
from tcvads_ros.runtime.audio_convert import AudioChunk
from tcvads_ros.runtime.bundle import FINE_GRAPHS, Bundle
from tcvads_ros.runtime.event_store import crash_ends
from tcvads_ros.runtime.events import AnomalyEvent, EventConfig, gap_problem
from tcvads_ros.runtime.fine import FineStage
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.heatmap import overlay
from tcvads_ros.runtime.multi_stream import MultiStreamPipeline
from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline
from tcvads_ros.runtime.site_profile import SiteProfile, bundle_threshold, event_settings


class CoarseNode(TcvadsNode):
    def __init__(self, **node_options: Any) -> None:
        self.streams: MultiStreamPipeline | None = None  # every camera's pipeline
        self._owed: list[AnomalyEvent] = []  # ends found at configure, announced at activate
        self.microphones: list[Any] = []  # the cameras' audio topics (`Microphone`), with a bundle that listens
        super().__init__(parameters.COARSE, **node_options)

    @property
    def pipeline(self) -> TwoStagePipeline | None:
        """The first camera's pipeline (the only one where `image_topic` names the camera)."""
        return None if self.streams is None else self.streams.pipelines[self.cameras[0].name]

    # -- lifecycle ----------------------------------------------------------------------------
    def load(self) -> None:
        values = self.values
        self.bundle = Bundle.load(values["bundle"])
        # What the -1 thresholds and the timings left at their defaults stand for: a site
        # profile's settings (each camera's own, `site_profiles`, else `site_profile`), else the
        # bundle's threshold (`site_profile.event_settings`). Its fine files are checked only
        # where the fine stage runs here (else fine_node's concern).
        paths = parameters.site_profile_paths(values)
        self.profiles = {name: SiteProfile.load_for(path, self.bundle, where=f"site_profile {path}",
                                                    fine=values["fine_stage_in_process"]) if path else None
                         for name, path in paths.items()}
        backend = self.make_backend(self.bundle)
        in_process = values["fine_stage_in_process"]
        # Loaded now: a running node never needs the bundle's files again (a bundle replaced or
        # deleted under it changes nothing until a restart).
        backend.load(self.bundle.coarse_graphs + (FINE_GRAPHS if in_process else ()))
        self.backend_name = backend.describe()
        self.store = self.open_store()
        output_dir = parameters.output_dir(values)
        # One fine stage, one bounded queue, for every camera; each clip brings its camera's
        # counts, callbacks and verdict threshold (`FineJob`).
        fine = FineStage(
            self.bundle, backend, self.store, int(self.bundle.manifest.snippet_frames),
            queue_size=values["max_pending_clips"], output_dir=output_dir, heatmap=output_dir is not None,
            evidence_clip=output_dir is not None and values["evidence_clip"],
        ) if in_process else None
        pipelines = {}
        for camera in self.cameras:
            cfg = dataclasses.replace(
                PipelineConfig.for_coarse_node(values, self.event_config(values, camera), output_dir),
                stream=camera.name or values["image_topic"], site_profile=self.profiles[camera.name])
            pipelines[camera.name] = TwoStagePipeline(
                self.bundle, backend, cfg, stores=[self.store],
                on_explanation=self.publish_explanation if in_process else None, stats=camera.counts,
                fine_stage=fine)
        # The cameras' frames of one wake-up go through the backbone in one batched call.
        self.streams = MultiStreamPipeline(backend, pipelines, fine_stage=fine)
        self.microphones = self._microphones()
        # Snippets wait for their sound (a chunk comes once its last sample is in): look for the
        # ones whose sound has come every 0.1 s between frames, not only at the next frame.
        self.idle_s = 0.1 if self.microphones else 0.5
        self.anomaly = self.create_output(AnomalyEventMsg, "anomaly", EVENT_QOS)
        self.anomaly_json = self.create_output(String, "anomaly/json", EVENT_QOS)
        self.heatmaps = {camera.name: self.create_output(Image, heatmap_topic(camera.name), VIEW_QOS)
                         for camera in self.cameras}
        if in_process:
            self.create_explanation_outputs()
        self._heat_index = {camera.name: -1 for camera in self.cameras}
        # Events a killed predecessor left open in the store end now, stored, and announced at
        # activate (reason "crash"): no start stays without an end.
        for end in crash_ends(self.store):
            self.get_logger().warning(f"event {end.event_id[:8]} was left open by a previous run (crash): "
                                      f"ended at its last known frame {end.end_frame - 1}")
            self._owed.append(end)
        for camera in self.cameras:
            events = pipelines[camera.name].event_config
            self.get_logger().info(
                f"{camera.label + ': ' if camera.name else ''}"
                f"threshold on {events.threshold_on:.3f} / off {events.threshold_off:.3f}"
                f"{' (site profile ' + paths[camera.name] + ')' if paths[camera.name] else ''}")
        self.get_logger().info(
            f"bundle {self.bundle.root} verified; backend {self.backend_name}; "
            f"{len(self.cameras)} camera(s); "
            f"fine stage {'in this process' if in_process else 'in fine_node'}; "
            f"events stored in {self.store.path}"
        )

    def activated(self) -> None:
        while self._owed:
            self._publish(self._owed.pop(0))

    def start_camera(self) -> None:
        super().start_camera()
        for microphone in self.microphones:
            microphone.start()

    def stop_camera(self) -> None:
        for microphone in self.microphones:
            microphone.stop()
            for camera in microphone.cameras:  # not listening is not losing sound
                if self.streams is not None:
                    self.streams.pipelines[camera.name].audio_paused()
        super().stop_camera()

    def pause(self) -> None:
        """Each camera's open event ends with reason ``paused``, stored and announced; a
        half-collected clip is explained with the frames that came."""
        cameras = {camera.name: camera for camera in self.cameras}
        for name, event in self.streams.pause():
            self._publish(event)
            cameras[name].paused_events += event.kind == "end"

    def finish(self) -> None:
        """End the open events (stored, then published) and let the in-process fine stage finish
        its queued clips, all while the context can still publish."""
        for _, event in self.streams.close(timeout=30.0):
            self._publish(event)
        self.store.close()

    def unload(self) -> None:
        self.streams = self.store = self.anomaly = self.anomaly_json = None
        self.heatmaps = {}
        self.microphones = []
        for camera in self.cameras:
            camera.microphone = None

    # -- sound --------------------------------------------------------------------------------
    def _microphones(self) -> list[Any]:
        """A `Microphone` per audio topic of the cameras (`parameters.audio_topics`), each serving
        the cameras that name it; none where the bundle does not listen (said once: the topics
        are not read). A camera without a topic is scored from vision, as its pipeline says once."""
        topics = parameters.audio_topics(self.values)
        if self.bundle.audio is None:
            if any(topics.values()):
                self.get_logger().warning(
                    f"the bundle {self.bundle.root} does not listen (no audio graph): "
                    f"{', '.join(sorted(set(filter(None, topics.values()))))} not read; scoring from vision only")
            return []
        served: dict[str, list[Camera]] = {}
        for camera in self.cameras:
            if topics[camera.name]:
                served.setdefault(topics[camera.name], []).append(camera)
            else:  # scored from vision without waiting for sound; the pipeline says so once (`_say_notices`)
                self.streams.pipelines[camera.name].no_sound("no audio_topic")
        if not served:
            return []
        try:  # audio_common_msgs is needed only to listen
            from tcvads_ros.nodes.microphone import Microphone
        except ImportError as error:
            raise ConfigError(f"audio_topic needs audio_common_msgs ({error}): install ros-<distro>-audio-common-msgs, "
                              "or run scripts/install_ros.sh, which builds its stand-in") from error
        microphones = [Microphone(self, topic, cameras, self._push_audio, self._refuse_audio)
                       for topic, cameras in served.items()]
        for microphone in microphones:
            for camera in microphone.cameras:
                camera.microphone = microphone
        return microphones

    def _push_audio(self, camera: Camera, chunk: AudioChunk) -> None:
        """A chunk of `camera`'s sound to its pipeline (on the audio callback's thread)."""
        streams = self.streams
        if streams is not None:
            streams.pipelines[camera.name].push_audio(chunk)

    def _refuse_audio(self, camera: Camera, reason: str) -> None:
        """A chunk of `camera`'s sound that could not be read, counted by `reason` in its stream."""
        streams = self.streams
        if streams is not None:
            streams.pipelines[camera.name].audio_refused(reason)

    # -- parameters ---------------------------------------------------------------------------
    def event_config(self, values: dict[str, Any], camera: Camera) -> EventConfig:
        """`camera`'s event settings for these parameter values; ConfigError where they cannot
        work, including a gap_timeout_s shorter than the camera's snippets allow (when its rate
        is known: given, or estimated by now)."""
        cfg = event_settings(bundle_threshold(self.bundle), self.profiles[camera.name],
                             **parameters.event_arguments(values))
        problem = self.gap_problem(cfg, camera)
        if problem:
            raise ConfigError(f"{camera.label}: {problem}" if camera.name else problem)
        return cfg

    def gap_problem(self, cfg: EventConfig, camera: Camera) -> str | None:
        """`events.gap_problem` for the camera's rate: `camera_fps`, else the estimate (None
        while there is none)."""
        fps = camera.fps
        if not fps:
            return None
        return gap_problem(cfg.gap_timeout_s, self.bundle.manifest.snippet_frames / fps)

    def config_problem(self, camera: Camera) -> str | None:
        if self.streams is None:
            return None
        return self.gap_problem(self.streams.pipelines[camera.name].event_config, camera)

    def check_change(self, changes: dict[str, Any]) -> str | None:
        if self.bundle is None:  # unconfigured: checked against the bundle at configure
            return None
        try:
            for camera in self.cameras:
                self.event_config({**self.values, **changes}, camera)
        except (ConfigError, ValueError) as error:
            return str(error)
        return None

    def apply_change(self, changes: dict[str, Any]) -> None:
        if self.streams is not None:  # else read at the next configure
            for camera in self.cameras:
                self.streams.pipelines[camera.name].set_event_config(self.event_config(self.values, camera))

    # -- frames -------------------------------------------------------------------------------
    def wants(self, camera: Camera, number: int) -> bool:
        return self.streams.pipelines[camera.name].select(number)

    def process(self, frames: list[tuple[Camera, Frame]]) -> None:
        for _, event in self.streams.process([(camera.name, frame) for camera, frame in frames]):
            self._publish(event)
        for camera, _ in frames:
            if self.heatmaps[camera.name].get_subscription_count() > 0:
                self._publish_heatmap(camera.name)
        self._say_notices()

    def idle(self) -> None:
        """Between frames: the events of snippets whose sound has come since they waited for it
        (and, with confirm_with_fine, held announcements whose verdict came)."""
        for _, event in self.streams.release():
            self._publish(event)
        self._say_notices()

    def _say_notices(self) -> None:
        """Log each camera's one-time notices (a bundle that listens and a camera without
        sound, or the other way round; a microphone gone silent)."""
        for camera in self.cameras:
            for notice in self.streams.pipelines[camera.name].pop_notices():
                self.get_logger().warning(notice)

    def _publish(self, event: AnomalyEvent) -> None:
        self.anomaly.publish(anomaly_message(TYPES, event))
        self.anomaly_json.publish(String(**anomaly_json_fields(event)))

    def _publish_heatmap(self, name: str) -> None:
        newest = self.streams.pipelines[name].newest_snippet()
        if newest is None or newest.frame.index == self._heat_index[name] or newest.frame.header is None:
            return
        self._heat_index[name] = newest.frame.index
        fields = image_fields(newest.frame.header, overlay(newest.frame.rgb, newest.cam, self.values["heatmap_alpha"]))
        fields["data"] = ros_bytes(fields["data"])
        self.heatmaps[name].publish(Image(**fields))


def heatmap_topic(camera: str) -> str:
    """A camera's heat-map topic: ``anomaly/heatmap``, under the camera's name where the node
    names its cameras (``front/anomaly/heatmap``)."""
    return f"{camera}/anomaly/heatmap" if camera else "anomaly/heatmap"


main = main_for(CoarseNode, parameters.COARSE)

if __name__ == "__main__":
    main()
