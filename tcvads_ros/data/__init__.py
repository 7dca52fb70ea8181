# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Data formats (UCF-Crime, XD-Violence, VadCLIP feature lists) and the synthetic benchmark."""
