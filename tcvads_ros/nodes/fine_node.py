# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""fine_node: the triggered fine stage (paper §IV.B): names and explains each anomaly.

How the clip reaches it: fine_node subscribes to the same camera topic as coarse_node and keeps
its own bounded, time-indexed cache of one frame per snippet (`clips.ClipCache`; frames are
numbered from their stamps and sampled with the coarse stage's rule, `SnippetSampler`, and only
the sampled ones are converted). An event start on ``anomaly`` (reliable, transient-local) opens a clip cut
from that cache by stamp, exactly as the in-process pipeline cuts it (pre-roll up to the start,
the rest after; `clips.ClipCollector`). So no frames are re-published, nothing is shared on
disk, the fine stage may run on another machine (use ``compressed:=true`` there), and a slow
fine stage only drops (and counts) whole clips in its bounded queue; it never slows coarse_node.
What happens to a clip (classify, explain, evidence clip, store) is `runtime.fine.FineStage`'s,
as in the in-process pipeline; this node only publishes what it hands back.

Several cameras (``cameras``, as coarse_node's): a cache, sampler and clip cutter per camera
(`CameraClips`), each announcement routed to its camera by the ``stream`` it names (the
camera's name; one this node does not read is counted, ``anomaly_other_camera``), and one fine
stage, one bounded queue, for all of them.

Reads the typed ``anomaly`` (tcvads_msgs/AnomalyEvent). Publishes, relative to its namespace:
``anomaly/category`` (vision_msgs/Classification with the header of the frame that announced
the start), ``anomaly/explanation`` (tcvads_msgs/AnomalyExplanation: category, class scores,
captions, the readable report, the files written) and ``anomaly/explanation/json`` (the
versioned JSON document), after storing
the explanation in the event store; and ``/diagnostics``. The explanation's frame numbers are
coarse_node's (the /anomaly announcement carries its number for a stamp;
`fine.coarse_numbering`), so both nodes name the same frames; its times are the camera's stamps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from std_msgs.msg import Header
from tcvads_msgs.msg import AnomalyEvent as AnomalyEventMsg

from tcvads_ros.nodes import parameters
from tcvads_ros.nodes.camera import Camera
from tcvads_ros.nodes.common import EVENT_QOS, TcvadsNode, main_for
from tcvads_ros.nodes.messages import event_from_message, header_from_fields, stamp_seconds
from tcvads_ros.runtime.bundle import FINE_GRAPHS, Bundle
from tcvads_ros.runtime.clips import ClipCache, ClipCollector
from tcvads_ros.runtime.fine import FineJob, FineStage, coarse_numbering
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.sampling import SnippetSampler
from tcvads_ros.runtime.site_profile import bundle_fine_threshold, verdict_settings

# The cache holds at most this many frames per second of stream (a 60 fps camera, one frame
# per snippet kept): memory stays bounded whatever the camera does.
MAX_CAMERA_FPS = 60.0


@dataclass
class CameraClips:
    """One camera's clip cutting in fine_node: which of its frames are kept (one per snippet,
    the coarse stage's rule), the cache they are kept in, and the clips cut from it."""

    sampler: SnippetSampler
    cache: ClipCache
    clips: ClipCollector


class FineNode(TcvadsNode):
    def __init__(self, **node_options: Any) -> None:
        self.fine: FineStage | None = None
        self.cameras_clips: dict[str, CameraClips] = {}
        self._anomaly_subscription = None
        super().__init__(parameters.FINE, **node_options)

    # -- lifecycle ----------------------------------------------------------------------------
    def load(self) -> None:
        values = self.values
        self.bundle = Bundle.load(values["bundle"])
        manifest = self.bundle.manifest
        backend = self.make_backend(self.bundle)
        backend.load(FINE_GRAPHS)  # now: a running node never needs the bundle's files again
        self.backend_name = backend.describe()
        self.store = self.open_store()
        self.sample_every = int(manifest.snippet_frames)
        seconds = values["clip_cache_seconds"]
        clip_len = int(manifest.fine_clip_snippets)
        for camera in self.cameras:  # each camera's frames are cached and cut on their own
            cache = ClipCache(seconds, max_frames=math.ceil(seconds * MAX_CAMERA_FPS / self.sample_every) + 1)
            self.cameras_clips[camera.name] = CameraClips(
                SnippetSampler(self.sample_every, camera.counts), cache,
                ClipCollector(cache, clip_len, timeout_s=values["clip_timeout_s"], stats=camera.counts))
        self.create_explanation_outputs()
        # One fine stage, one bounded queue, for every camera (each clip counts into its camera's
        # statistics: `FineJob.stats`).
        self.fine = FineStage(
            self.bundle, backend, self.store, self.sample_every, on_explanation=self.publish_explanation,
            on_error=self._on_error, queue_size=values["max_pending_clips"],
            output_dir=parameters.output_dir(values) if values["evidence_clip"] else None,
            evidence_clip=values["evidence_clip"], stats=self.node_counts,
            # The verdict at the bundle's fine threshold (`site_profile.verdict_settings` without a
            # profile: site profiles are coarse_node's parameter).
            fine_threshold=verdict_settings(bundle_fine_threshold(self.bundle)).fine_threshold,
        )
        self.get_logger().info(
            f"bundle {self.bundle.root} verified; backend {self.backend_name}; clips of {clip_len} "
            f"frames (one per {self.sample_every}) from {len(self.cameras)} camera(s); explanations "
            f"stored in {self.store.path}"
        )

    def activated(self) -> None:
        """Listen to the announcements (transient local: the last few are replayed)."""
        self._anomaly_subscription = self.create_subscription(
            AnomalyEventMsg, "anomaly", self._on_anomaly, EVENT_QOS, callback_group=MutuallyExclusiveCallbackGroup())

    def pause(self) -> None:
        """Stop listening; the clips being collected are explained with the frames that came."""
        self._stop_listening()
        for camera in self.cameras:
            self._submit_ready(camera, flush=True)

    def finish(self) -> None:
        """Classify the clips still being collected with the frames that came, and finish the
        queued clips, all while the context can still publish."""
        self.pause()
        self.fine.close(timeout=30.0)
        self.store.close()

    def unload(self) -> None:
        self.fine = self.store = None
        self.cameras_clips = {}

    def _stop_listening(self) -> None:
        if self._anomaly_subscription is not None:
            self.destroy_subscription(self._anomaly_subscription)
            self._anomaly_subscription = None

    def apply_change(self, changes: dict[str, Any]) -> None:
        if "clip_timeout_s" in changes:
            for clips in self.cameras_clips.values():
                clips.clips.timeout_s = changes["clip_timeout_s"]

    # -- input --------------------------------------------------------------------------------
    def wants(self, camera: Camera, number: int) -> bool:
        return self.cameras_clips[camera.name].sampler.select(number)  # one frame per snippet, as coarse_node takes

    def process(self, frames: list[tuple[Camera, Frame]]) -> None:
        for camera, frame in frames:
            self.cameras_clips[camera.name].cache.push(frame)
            self._submit_ready(camera)

    def _on_anomaly(self, msg: AnomalyEventMsg) -> None:
        try:
            event, header = event_from_message(msg)
        except ValueError as error:
            self.node_counts.add("anomaly_messages_refused")
            self.get_logger().warning(f"anomaly message refused: {error}",
                                      throttle_duration_sec=self.values["reject_log_period"])
            return
        camera = self.camera_of(event)
        if camera is None:  # another node's camera, or a coarse_node configured with other names
            self.node_counts.add("anomaly_other_camera")
            self.get_logger().warning(
                f"anomaly message of camera {event.stream!r} ignored: this node reads "
                f"{', '.join(repr(c.name) for c in self.cameras)}",
                throttle_duration_sec=self.values["reject_log_period"])
            return
        if event.kind == "start" and self.store.explanations(event.event_id):
            # Transient local replays the last announcements to a restarted fine_node: an event
            # explained before the restart (its explanation is in the store) is not explained again.
            camera.counts.add("already_explained")
            return
        self.cameras_clips[camera.name].clips.announce(event, header, split=stamp_seconds(header, default=event.stamp))
        self._submit_ready(camera)

    def camera_of(self, event: Any) -> Camera | None:
        """The camera an announcement is about: the one its ``stream`` names where the node names
        its cameras; the node's only camera otherwise (as before cameras had names)."""
        if not self.cameras[0].name:
            return self.cameras[0]
        return next((c for c in self.cameras if c.name == event.stream), None)

    def _submit_ready(self, camera: Camera, flush: bool = False) -> None:
        clip = self.cameras_clips[camera.name].clips.ready(flush=flush)
        if clip is None:
            return
        frames = coarse_numbering(clip.items, self._coarse_offset(clip.event, camera))
        job = FineJob(clip.event, frames, clip.coalesced, header_from_fields(Header, clip.header),
                      stats=camera.counts, fps=camera.estimated_fps() or self.bundle.manifest.fps)
        if not self.fine.submit(job):
            self.get_logger().warning(
                f"fine stage busy: clip of event {clip.event.event_id[:8]} dropped (counted)",
                throttle_duration_sec=self.values["reject_log_period"],
            )

    def _coarse_offset(self, event: Any, camera: Camera) -> int:
        """coarse_node's frame number minus ours for the same stamp: the announcement names its
        frame in coarse_node's numbering, which started when that node saw its first frame."""
        ours = camera.number_at(event.stamp)
        return 0 if ours is None else event.frame - ours

    def _on_error(self, job: FineJob, error: Exception) -> None:
        self.get_logger().error(f"fine stage failed for event {job.event.event_id[:8]}: {error}")


main = main_for(FineNode, parameters.FINE)

if __name__ == "__main__":
    main()
