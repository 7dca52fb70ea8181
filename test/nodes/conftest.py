# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Fixtures the node tests share."""

import pytest


@pytest.fixture
def ros():
    """rclpy initialised for one in-process test, shut down after it (if the test did not)."""
    import rclpy

    rclpy.init()
    yield
    if rclpy.ok():
        rclpy.shutdown()
