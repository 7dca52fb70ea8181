"""fine_node: the triggered fine stage (paper §IV.B): names and explains each anomaly.

How the clip reaches it: fine_node subscribes to the same camera topic as coarse_node and keeps
its own bounded, time-indexed cache of one frame per snippet (`stream.ClipCache`; only those
frames are converted). An event start on ``anomaly`` (reliable, transient-local) opens a clip cut
from that cache by stamp, exactly as the in-process pipeline cuts it (pre-roll up to the start,
the rest after; `stream.ClipCollector`). So no frames are re-published, nothing is shared on
disk, the fine stage may run on another machine (use ``compressed:=true`` there), and a slow
fine stage only drops (and counts) whole clips in the pipeline's bounded `FineWorker` queue;
it never slows coarse_node.

Publishes, relative to its namespace: ``anomaly/category`` (vision_msgs/Classification with the
header of the frame that announced the start), ``anomaly/explanation`` (std_msgs/String, the
readable report) and ``anomaly/explanation/json`` (the versioned JSON document), after storing
the explanation in the event store; and ``/diagnostics``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from std_msgs.msg import Header, String
from vision_msgs.msg import Classification, ObjectHypothesis

from tcvads_ros.nodes import parameters
from tcvads_ros.nodes.common import EVENT_QOS, TcvadsNode, main_for
from tcvads_ros.nodes.messages import (
    classification_message,
    event_from_document,
    explanation_fields,
    stamp_seconds,
)
from tcvads_ros.nodes.stream import ClipCache, ClipCollector
from tcvads_ros.runtime.backends import create_backend
from tcvads_ros.runtime.bundle import Bundle
from tcvads_ros.runtime.event_store import EventStore
from tcvads_ros.runtime.frames import Frame
from tcvads_ros.runtime.pipeline import ClipResult, FineJob, FineWorker, explain_clip

# The cache holds at most this many frames per second of stream (a 60 fps camera, one frame
# per snippet kept): memory stays bounded whatever the camera does.
MAX_CAMERA_FPS = 60.0


class ClipFrame:
    """A clip frame as `FineWorker` reads it from a job (``.frame``)."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame


class FineNode(TcvadsNode):
    def __init__(self, **node_options: Any) -> None:
        super().__init__(parameters.FINE, **node_options)
        values = self.values
        self.bundle = Bundle.load(values["bundle"])
        manifest = self.bundle.manifest
        backend = create_backend(values["backend"], self.bundle, device=values["device"])
        self.backend_name = backend.describe()
        self.store = EventStore(Path(values["event_store"]).expanduser())
        self.sample_every = int(manifest.snippet_frames)
        seconds = values["clip_cache_seconds"]
        self.cache = ClipCache(
            seconds, max_frames=math.ceil(seconds * MAX_CAMERA_FPS / self.sample_every) + 1,
            every=self.sample_every,
        )
        clip_len = int(manifest.fine_clip_snippets)
        self.clips = ClipCollector(
            self.cache, length=clip_len, pre_roll=max(1, clip_len // 2), timeout_s=values["clip_timeout_s"]
        )
        self.worker = FineWorker(self.bundle, backend, self._on_result, values["max_pending_clips"],
                                 on_error=self._on_error)
        self.category = self.create_publisher(Classification, "anomaly/category", EVENT_QOS)
        self.explanation = self.create_publisher(String, "anomaly/explanation", EVENT_QOS)
        self.explanation_json = self.create_publisher(String, "anomaly/explanation/json", EVENT_QOS)
        self._headers: dict[str, Any] = {}  # job's event id -> start header, while the job runs
        self.create_subscription(String, "anomaly", self._on_anomaly, EVENT_QOS,
                                 callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(
            f"bundle {self.bundle.root} verified; backend {self.backend_name}; clips of {clip_len} "
            f"frames (one per {self.sample_every}) from the camera; explanations stored in "
            f"{self.store.path}"
        )
        self.start_camera()

    def apply_change(self, changes: dict[str, Any]) -> None:
        if "clip_timeout_s" in changes:
            self.clips.timeout_s = changes["clip_timeout_s"]

    # -- input --------------------------------------------------------------------------------
    def wants_frame(self) -> bool:
        return self.cache.tick()  # convert only the frames the clip can use

    def process(self, frame: Frame) -> None:
        self.cache.push(frame)
        self._submit_ready()

    def _on_anomaly(self, msg: String) -> None:
        try:
            event, header = event_from_document(json.loads(msg.data))
        except ValueError as error:  # JSONDecodeError is a ValueError
            self.stats.count("anomaly_messages_refused")
            self.get_logger().warning(f"anomaly message refused: {error}",
                                      throttle_duration_sec=self.values["reject_log_period"])
            return
        self.clips.announce(event, header, split=stamp_seconds(header, default=event.stamp))
        self._submit_ready()

    def _submit_ready(self) -> None:
        clip = self.clips.ready()
        if clip is None:
            return
        self._headers[clip.event.event_id] = clip.header
        job = FineJob(clip.event, [ClipFrame(f) for f in clip.frames], clip.coalesced)
        if not self.worker.submit(job):
            self._headers.pop(clip.event.event_id, None)
            self.get_logger().warning(
                f"fine stage busy: clip of event {clip.event.event_id[:8]} dropped (counted)",
                throttle_duration_sec=self.values["reject_log_period"],
            )

    # -- results (on the FineWorker thread) ---------------------------------------------------
    def _on_result(self, job: FineJob, result: ClipResult) -> None:
        frames = [s.frame for s in job.snippets]
        explanation = explain_clip(
            job.event, frames, result, self.backend_name, str(self.bundle.root), self.sample_every
        )
        self.store.append(explanation)  # durable before it is announced
        self.category.publish(classification_message(
            Classification, ObjectHypothesis, self._start_header(job), explanation.class_scores
        ))
        text, document = explanation_fields(explanation)
        self.explanation.publish(String(**text))
        self.explanation_json.publish(String(**document))

    def _on_error(self, job: FineJob, error: Exception) -> None:
        self._headers.pop(job.event.event_id, None)
        self.get_logger().error(f"fine stage failed for event {job.event.event_id[:8]}: {error}")

    def _start_header(self, job: FineJob) -> Header:
        """The start announcement's header as a std_msgs/Header (stamp and frame_id)."""
        data = self._headers.pop(job.event.event_id, None) or {}
        header = Header(frame_id=str(data.get("frame_id", "")))
        if data.get("stamp"):
            header.stamp.sec = int(data["stamp"]["sec"])
            header.stamp.nanosec = int(data["stamp"]["nanosec"])
        return header

    def extra_totals(self) -> dict[str, Any]:
        return {**self.clips.stats, **self.worker.stats}

    def close(self) -> None:
        super().close()
        self.worker.close(timeout=30.0)  # finish the queued clips
        self.store.close()


main = main_for(FineNode, parameters.FINE)

if __name__ == "__main__":
    main()
