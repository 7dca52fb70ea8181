# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 adapters: coarse_node and fine_node (rclpy), and the ROS-free logic they use
(messages, parameters, stream), which is what the tests here exercise."""
