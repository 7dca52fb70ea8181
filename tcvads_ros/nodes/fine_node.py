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
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from std_msgs.msg import Header
from tcvads_msgs.msg import AnomalyEvent as AnomalyEventMsg

from tcvads_ros.nodes import parameters
from tcvads_ros.nodes.common import EVENT_QOS, TcvadsNode, main_for
from tcvads_ros.nodes.messages import event_from_message, header_from_fields, stamp_seconds
from tcvads_ros.runtime.bundle import FINE_GRAPHS, Bundle
from tcvads_ros.runtime.clips import ClipCache, ClipCollector
from tcvads_ros.runtime.fine import FineJob, FineStage, coarse_numbering
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.sampling import SnippetSampler

# The cache holds at most this many frames per second of stream (a 60 fps camera, one frame
# per snippet kept): memory stays bounded whatever the camera does.
MAX_CAMERA_FPS = 60.0


class FineNode(TcvadsNode):
    def __init__(self, **node_options: Any) -> None:
        self.fine: FineStage | None = None
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
        self.sampler = SnippetSampler(self.sample_every, self.counts)
        seconds = values["clip_cache_seconds"]
        self.cache = ClipCache(seconds, max_frames=math.ceil(seconds * MAX_CAMERA_FPS / self.sample_every) + 1)
        clip_len = int(manifest.fine_clip_snippets)
        self.clips = ClipCollector(self.cache, clip_len, timeout_s=values["clip_timeout_s"], stats=self.counts)
        self.create_explanation_outputs()
        self.fine = FineStage(
            self.bundle, backend, self.store, self.sample_every, on_explanation=self.publish_explanation,
            on_error=self._on_error, queue_size=values["max_pending_clips"],
            output_dir=parameters.output_dir(values) if values["evidence_clip"] else None,
            evidence_clip=values["evidence_clip"], fps=self._camera_fps, stats=self.counts,
        )
        self.get_logger().info(
            f"bundle {self.bundle.root} verified; backend {self.backend_name}; clips of {clip_len} "
            f"frames (one per {self.sample_every}) from the camera; explanations stored in "
            f"{self.store.path}"
        )

    def activated(self) -> None:
        """Listen to the announcements (transient local: the last few are replayed)."""
        self._anomaly_subscription = self.create_subscription(
            AnomalyEventMsg, "anomaly", self._on_anomaly, EVENT_QOS, callback_group=MutuallyExclusiveCallbackGroup())

    def pause(self) -> int:
        """Stop listening; the clip being collected is explained with the frames that came."""
        self._stop_listening()
        self._submit_ready(flush=True)
        return 0

    def finish(self) -> None:
        """Classify the clip still being collected with the frames that came, and finish the
        queued clips, all while the context can still publish."""
        self._stop_listening()
        self._submit_ready(flush=True)
        self.fine.close(timeout=30.0)
        self.store.close()

    def unload(self) -> None:
        self.fine = self.clips = self.cache = self.store = None

    def _stop_listening(self) -> None:
        if self._anomaly_subscription is not None:
            self.destroy_subscription(self._anomaly_subscription)
            self._anomaly_subscription = None

    def apply_change(self, changes: dict[str, Any]) -> None:
        if "clip_timeout_s" in changes and self.fine is not None:
            self.clips.timeout_s = changes["clip_timeout_s"]

    # -- input --------------------------------------------------------------------------------
    def wants(self, number: int) -> bool:
        return self.sampler.select(number)  # one frame per snippet, as coarse_node takes

    def process(self, frame: Frame) -> None:
        self.cache.push(frame)
        self._submit_ready()

    def _on_anomaly(self, msg: AnomalyEventMsg) -> None:
        try:
            event, header = event_from_message(msg)
        except ValueError as error:
            self.counts.add("anomaly_messages_refused")
            self.get_logger().warning(f"anomaly message refused: {error}",
                                      throttle_duration_sec=self.values["reject_log_period"])
            return
        if event.kind == "start" and self.store.explanations(event.event_id):
            # Transient local replays the last announcements to a restarted fine_node: an event
            # explained before the restart (its explanation is in the store) is not explained again.
            self.counts.add("already_explained")
            return
        self.clips.announce(event, header, split=stamp_seconds(header, default=event.stamp))
        self._submit_ready()

    def _submit_ready(self, flush: bool = False) -> None:
        clip = self.clips.ready(flush=flush)
        if clip is None:
            return
        frames = coarse_numbering(clip.items, self._coarse_offset(clip.event))
        job = FineJob(clip.event, frames, clip.coalesced, header_from_fields(Header, clip.header))
        if not self.fine.submit(job):
            self.get_logger().warning(
                f"fine stage busy: clip of event {clip.event.event_id[:8]} dropped (counted)",
                throttle_duration_sec=self.values["reject_log_period"],
            )

    def _coarse_offset(self, event: Any) -> int:
        """coarse_node's frame number minus ours for the same stamp: the announcement names its
        frame in coarse_node's numbering, which started when that node saw its first frame."""
        with self._clock_lock:
            ours = self.clock.number_at(event.stamp)
        return 0 if ours is None else event.frame - ours

    def _camera_fps(self) -> float:
        with self._clock_lock:  # the camera callback updates the estimate
            return self.clock.fps or self.bundle.manifest.fps

    def _on_error(self, job: FineJob, error: Exception) -> None:
        self.get_logger().error(f"fine stage failed for event {job.event.event_id[:8]}: {error}")


main = main_for(FineNode, parameters.FINE)

if __name__ == "__main__":
    main()
