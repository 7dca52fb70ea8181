# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The TCVADS networks as torch modules, one file per paper component (paper §IV).

Build them by name with ``create_model(name, **cfg)`` (``tcvads_ros.models.registry``). This
package imports torch; the coarse runtime path never imports it. ``create_model`` and
``MODEL_REGISTRY`` are loaded on first use, so importing one model file does not pull in
open_clip.
"""

from __future__ import annotations

__all__ = ["MODEL_REGISTRY", "create_model"]


def __getattr__(name: str):
    if name in __all__:
        from tcvads_ros.models import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'tcvads_ros.models' has no attribute '{name}'")
