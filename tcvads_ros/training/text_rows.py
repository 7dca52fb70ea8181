# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""The fine stage's text side, read back from its training run, for rows of a bundle's text table.

A bundle's `class_caption` table holds, for every class c and caption j of the bank, the triplet
prompt ``[SOT] ctx label_c caption_j [EOT]`` through the frozen CLIP text encoder with the
learned CoOp context (paper §IV.B; `FineStage.class_caption_table`), and `captions` the captions
alone (for retrieval, `FineStage.caption_embeddings`). New rows need exactly that text side:
the frozen text encoder and the learned context. Both are in the run's ``fine.safetensors``
(the fine stage saves its frozen CLIP with its trained parameters), and ``fine.json`` says how
to rebuild the model (`RunFolder.info`), so the run folder the bundle was exported from is all
an editing machine needs (docs/added_classes.md says why the bundle does not carry it).

`TextRows.check` recomputes some of the bundle's own rows first: a run whose context or
encoder differs from the one the bundle was exported with is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tcvads_ros.errors import BundleError, ConfigError, DataError, TcvadsError
from tcvads_ros.models.registry import create_model
from tcvads_ros.training.run_folder import RunFolder

# Max |recomputed - shipped| accepted for the bundle's own rows (unit vectors, float32). The
# same text side on another machine or thread count differs by ~1e-6; another run or context
# by the rows' own order of magnitude (~0.1-1).
ROW_TOLERANCE = 1e-3
CHECK_CAPTIONS = 3  # captions of the bank whose rows `check` recomputes for every class


class TextRows:
    """The text side of one training run's fine stage (frozen CLIP text encoder + learned context)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        if not self.run_dir.is_dir():
            raise BundleError(f"{self.run_dir}: training run folder not found; pass --run with the run "
                              "the bundle was exported from (tcvads export RUN_DIR)")
        run = RunFolder(self.run_dir, writable=False)
        try:
            self._info = run.info("fine")
            self._state = run.load_model_state("fine")
        except DataError as exc:
            raise BundleError(f"{exc} (the fine stage's text side is read from its training run)") from exc
        if not self._info.config.get("use_label", True):
            raise BundleError(
                f"{self.run_dir / 'fine.json'}: this fine stage's prompts carry no class label "
                "(fine.model.use_label=false, a prompt ablation), so a new class would get the same "
                "rows as every other; classes can be added only to a fine stage with labels (the default)")
        if self._info.config.get("class_ctx"):
            raise BundleError(
                f"{self.run_dir / 'fine.json'}: this fine stage learned a context per class "
                "(fine.model.class_ctx, a prompt ablation), so there is no learned context for other "
                "labels; classes can be added only to a fine stage with the shared context (the default)")

    def _model(self, labels: Sequence[str], captions: Sequence[str]) -> torch.nn.Module:
        """The run's FineStage with other labels and captions (neither changes its weights)."""
        # fine.safetensors holds the frozen CLIP too: no need for the original checkpoint file.
        config = {**self._info.config, "checkpoint": None}
        try:
            model = create_model(self._info.model, **config, class_names=list(labels), captions=list(captions))
            model.load_state_dict(self._state)
        except (ConfigError, RuntimeError) as exc:
            where = self.run_dir / "fine.json"
            raise BundleError(f"{where}: cannot rebuild the fine stage's text side ({exc})") from exc
        return model.eval()

    @torch.no_grad()
    def rows(self, labels: Sequence[str], captions: Sequence[str]) -> np.ndarray:
        """(L, K, D): each label's triplet prompt with each caption, as the bundle's table holds it."""
        try:
            return self._model(labels, captions).class_caption_table().float().numpy()
        except TcvadsError as exc:
            raise BundleError(f"cannot encode the prompts: {exc}") from exc

    @torch.no_grad()
    def caption_features(self, captions: Sequence[str]) -> np.ndarray:
        """(K, D): the captions alone through CLIP's text encoder (the retrieval side)."""
        return self._model(["_"], captions).caption_embeddings().float().numpy()

    def check(self, prompts: Sequence[str], captions: Sequence[str], table: dict[str, np.ndarray],
              shown: Path) -> float:
        """Recompute every class's rows for the first captions of the bank and their retrieval
        features; refuse the run when they differ from the bundle's `table`. Returns the max
        difference."""
        take = list(range(min(CHECK_CAPTIONS, len(captions))))
        chosen = [captions[j] for j in take]
        error = max(float(np.max(np.abs(self.rows(prompts, chosen) - table["class_caption"][:, take]))),
                    float(np.max(np.abs(self.caption_features(chosen) - table["captions"][take]))))
        if not error <= ROW_TOLERANCE:
            raise BundleError(
                f"{self.run_dir}: its fine stage does not reproduce the text table of {shown} (max |diff| "
                f"{error:.2e} > {ROW_TOLERANCE:.0e}); it is not the run the bundle was exported from. Pass "
                "--run with that run (the manifest's source_run names it)"
            )
        return error
