# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The one small interface every inference backend implements.

A backend runs the bundle's graphs by name ("coarse_backbone", "coarse_qacm", "fine_image",
"fine_temporal") on numpy inputs keyed by the graph's input names and returns numpy outputs
keyed by output name (docs/ARCHITECTURE.md). It is safe to call `run` from more than one thread
(the coarse stage and the fine worker share one backend).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np

from tcvads_ros.errors import BundleError
from tcvads_ros.runtime.bundle import GRAPH_INPUTS, Bundle


class Backend(ABC):
    name: str = ""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle

    @property
    def providers(self) -> list[str]:
        """What actually executes the graphs (e.g. ["CPUExecutionProvider"]), for diagnostics."""
        return [self.name]

    @abstractmethod
    def run(self, graph_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one graph; inputs and outputs keyed by the graph's tensor names."""

    def load(self, graph_names: Iterable[str]) -> None:  # noqa: B027 - in-memory backends hold them already
        """Load these graphs now (sessions, engines) instead of at their first use, so that a
        long-running process never needs the bundle's files again; raises `BundleError` for a
        graph that does not load. A node calls it before it takes frames."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing that needs releasing
        """Release sessions, engines and device memory."""

    def describe(self) -> str:
        return f"{self.name} ({', '.join(self.providers)})"

    @staticmethod
    def check_inputs(graph_name: str, inputs: dict[str, np.ndarray]) -> None:
        """Refuse a wrong graph or input name with a message naming the expected ones."""
        if graph_name not in GRAPH_INPUTS:
            raise BundleError(f"unknown graph '{graph_name}' (graphs: {', '.join(GRAPH_INPUTS)})")
        want = set(GRAPH_INPUTS[graph_name])
        if set(inputs) != want:
            raise BundleError(f"graph '{graph_name}' takes inputs {sorted(want)}, got {sorted(inputs)}")
