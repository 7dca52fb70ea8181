# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Offline training and evaluation of TCVADS: data, losses, metrics, the run folder, export.

The tools are `tcvads train | evaluate | interpret | export` (the same as the scripts
``python training/train.py`` etc. of a checkout). Everything here imports torch; the runtime
(`tcvads_ros.runtime`) never imports this package.
"""
