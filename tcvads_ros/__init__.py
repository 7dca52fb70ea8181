# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""tcvads_ros: real-time, explainable two-stage video anomaly detection (TCVADS) for ROS 2.

The ROS-free core lives in `tcvads_ros.models` (torch modules), `tcvads_ros.runtime` (the streaming
detector, bundles, backends and events; no torch on the coarse path) and `tcvads_ros.data`
(data formats and the synthetic benchmark). `tcvads_ros.nodes` holds the thin rclpy adapters.
"""

__version__ = "0.1.0"
