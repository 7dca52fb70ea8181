# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS-free streaming core: frames, conversion, buffers, events, explanations, bundles, backends.

Import the submodules directly (``from tcvads_ros.runtime.events import EventStateMachine``).
This package file imports nothing, so the coarse path stays free of torch and loading one
module never drags in the others.
"""
