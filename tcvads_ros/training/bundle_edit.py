# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads bundle`: add, remove and rename a bundle's classes and add captions, without retraining.

The fine stage names an anomaly by comparing the clip's video features with one text feature per
class (paper Exp. 15-16), and a class's text feature at run time is read from the bundle's
class x caption table (docs/ARCHITECTURE.md, "Edge rule for the fine stage"). A new class is
therefore one new row of that table: its label's triplet prompt with every caption of the bank
through the frozen text encoder and the learned context (`TextRows`, computed on the machine that
edits the bundle); the robot reads the new table like the old one and needs neither torch nor a
text encoder. The fine temporal graph takes the class count from its `text` input, so the graphs
stay as exported.

Every edit is atomic: the edited bundle is written beside the old one (graphs hard-linked, not
copied), loaded back with `Bundle.load` and its fine temporal graph run with the new class count,
and only then put in the old one's place; a failure or Ctrl-C before that leaves the old bundle
as it was. The manifest keeps a record of every edit (`Manifest.edits`) and the label text
the text side read for each class whose name is not that text (`Manifest.class_prompts`).
docs/added_classes.md documents the commands and measures how well an added class is recognised.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import signal
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tcvads_ros import __version__
from tcvads_ros.configuration import to_mapping
from tcvads_ros.errors import BundleError, ConfigError
from tcvads_ros.models.captions import CaptionBank
from tcvads_ros.runtime.bundle import (
    FORMAT_VERSION,
    GRAPH_FILES,
    TEXT_TABLE,
    Bundle,
    Manifest,
    write_manifest,
)
from tcvads_ros.runtime.model_card import card_after_edit, describe

MIN_CLASSES = 2  # a softmax over one class names everything that class


@dataclass
class Table:
    """What an edit changes: class names, their prompts, the caption bank and the text table."""

    class_names: list[str]
    class_prompts: dict[str, str]
    captions: list[str]
    class_caption: np.ndarray  # (C, K, D)
    caption_features: np.ndarray  # (K, D)
    record: dict = field(default_factory=dict)  # what this edit did, for the manifest

    @classmethod
    def of(cls, bundle: Bundle) -> Table:
        m = bundle.manifest
        return cls(list(m.class_names), dict(m.class_prompts), list(m.captions),
                   bundle.text_table["class_caption"], bundle.text_table["captions"])

    def prompt(self, name: str) -> str:
        """The label text the text side reads for class `name`."""
        return self.class_prompts.get(name, name)

    def prompts(self) -> list[str]:
        return [self.prompt(n) for n in self.class_names]

    def find(self, name: str) -> int:
        if name not in self.class_names:
            raise BundleError(f"no class '{name}' in the bundle (classes: {', '.join(self.class_names)})")
        return self.class_names.index(name)

    def check_new(self, name: str) -> str:
        """`name` tidied (spaces collapsed), or an error when it is empty or taken."""
        tidy = " ".join(str(name).split())
        if not tidy:
            raise BundleError("a class name must not be empty")
        taken = [n for n in self.class_names if n.lower() == tidy.lower()]
        if taken:
            raise BundleError(f"the bundle already has a class '{taken[0]}'; choose another name "
                              "(or rename-class / remove-class it first)")
        return tidy


# --- the edits -------------------------------------------------------------------------------
# Each takes the Table and the text side (None where it needs none) and returns the new Table.

def add_class(table: Table, text, name: str, prompt: str | None = None) -> Table:
    """A class `name` whose rows are `prompt` (default: the name) with every caption."""
    name = table.check_new(name)
    prompt = " ".join((prompt if prompt is not None else name).split())
    if not prompt:
        raise BundleError(f"class '{name}': --prompt must not be empty")
    rows = text.rows([prompt], table.captions)  # one text-encoder pass per caption
    prompts = dict(table.class_prompts)
    if prompt != name:
        prompts[name] = prompt
    return Table([*table.class_names, name], prompts, table.captions,
                 np.concatenate([table.class_caption, rows], axis=0), table.caption_features,
                 {"command": "add-class", "class": name, "prompt": prompt})


def remove_class(table: Table, text, name: str) -> Table:
    """Drop class `name` and its rows (no text side needed)."""
    index = table.find(name)
    if len(table.class_names) <= MIN_CLASSES:
        raise BundleError(f"cannot remove '{name}': the bundle would have fewer than {MIN_CLASSES} classes")
    if index == 0:
        raise BundleError(f"cannot remove '{name}': the first class is the normal class the fine stage "
                          "was trained against (paper Exp. 18); rename it instead")
    keep = [i for i in range(len(table.class_names)) if i != index]
    prompts = {k: v for k, v in table.class_prompts.items() if k != name}
    return Table([table.class_names[i] for i in keep], prompts, table.captions,
                 table.class_caption[keep], table.caption_features,
                 {"command": "remove-class", "class": name})


def rename_class(table: Table, text, old: str, new: str, keep_rows: bool = False) -> Table:
    """Rename class `old` to `new`: its rows recomputed from `new` (what the text side reads),
    or with `keep_rows` only the name shown changes and the rows stay (text may be None)."""
    index = table.find(old)
    new = table.check_new(new) if new.lower() != old.lower() else " ".join(new.split())
    if new == old:
        raise BundleError(f"class '{old}' already has that name")
    names = list(table.class_names)
    names[index] = new
    prompts = {k: v for k, v in table.class_prompts.items() if k != old}
    class_caption = table.class_caption
    if keep_rows:
        if table.prompt(old) != new:
            prompts[new] = table.prompt(old)
    else:
        class_caption = class_caption.copy()
        class_caption[index] = text.rows([new], table.captions)[0]
    return Table(names, prompts, table.captions, class_caption, table.caption_features,
                 {"command": "rename-class", "class": old, "to": new, "rows": "kept" if keep_rows else "recomputed",
                  "prompt": prompts.get(new, new)})


def add_captions(table: Table, text, captions: list[str]) -> Table:
    """Append captions to the bank: their retrieval features and every class's rows with them."""
    try:  # the caption bank's own rule: non-empty, not repeating (ignoring case and spacing)
        bank = CaptionBank([*table.captions, *captions], source="captions")
    except ConfigError as exc:
        raise BundleError(f"cannot add these captions: {exc}") from exc
    added = bank.captions[len(table.captions):]
    rows = text.rows(table.prompts(), added)  # (C, n, D)
    return Table(table.class_names, table.class_prompts, bank.captions,
                 np.concatenate([table.class_caption, rows], axis=1),
                 np.concatenate([table.caption_features, text.caption_features(added)], axis=0),
                 {"command": "add-caption", "captions": added})


# --- writing a bundle atomically ---------------------------------------------------------------

def backup_path(bundle_dir: Path) -> Path:
    """Where the old bundle stands for the instant of the swap (named in the error if cut off)."""
    return bundle_dir.parent / f".{bundle_dir.name}.edit-previous"


def open_bundle(path: str | Path) -> Bundle:
    """Load (and verify) the bundle to edit, noticing an edit cut off in the middle of its swap.
    A symbolic link (``current -> bundle-v3``) edits the folder it points to, and ``.`` the
    folder itself: the swap renames the real folder, never the link."""
    path = Path(path).resolve()
    backup = backup_path(path)
    if backup.is_dir():
        where = f"is at {backup}" if not path.exists() else f"may be at {backup}; compare the two"
        raise BundleError(f"{path}: an earlier edit was cut off while replacing the bundle; the old bundle "
                          f"{where}. Move the one to keep to {path} and remove the other")
    return Bundle.load(path)


def check_class_axis(bundle: Bundle) -> None:
    """The fine temporal graph must take any class count (exports since format 2 do)."""
    import onnx

    graph = onnx.load(str(bundle.path("fine_temporal")), load_external_data=False).graph
    text = next(i for i in graph.input if i.name == "text")
    dim = text.type.tensor_type.shape.dim[0]
    if dim.HasField("dim_value"):
        raise BundleError(f"{bundle.path('fine_temporal')}: exported for exactly {dim.dim_value} classes; "
                          "re-export the run with this tcvads_ros (tcvads export) to add or remove classes")


def _try_temporal(folder: Path, manifest: Manifest) -> None:
    """Run the edited bundle's fine temporal graph on sample inputs with its class count."""
    import onnxruntime as ort

    from tcvads_ros.runtime.backends.onnxruntime import cpu_session_options
    from tcvads_ros.training.export import sample_inputs

    session = ort.InferenceSession(str(folder / GRAPH_FILES["fine_temporal"]), cpu_session_options(),
                                   providers=["CPUExecutionProvider"])
    try:
        probs, scores = session.run(["probs", "video_scores"], sample_inputs(manifest)["fine_temporal"])
    except Exception as exc:  # onnxruntime raises its own exception types for shape errors
        raise BundleError(f"fine_temporal.onnx does not run with {len(manifest.class_names)} classes ({exc}); "
                          "re-export the run with this tcvads_ros (tcvads export)") from exc
    classes = len(manifest.class_names)
    if probs.shape[-1] != classes or scores.shape != (1, classes) or not np.allclose(scores.sum(), 1.0, atol=1e-4):
        raise BundleError(f"fine_temporal.onnx gives {probs.shape}/{scores.shape} for {classes} classes")


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # the graphs do not change: share them instead of copying hundreds of MB
    except OSError:
        shutil.copy2(src, dst)


def write_edit(bundle: Bundle, table: Table, record: dict) -> Bundle:
    """Write `table` into a copy of `bundle`, verify the copy, then put it in the bundle's place."""
    from safetensors.numpy import save_file

    root = bundle.root
    work = Path(tempfile.mkdtemp(prefix=f".{root.name}.edit-", dir=root.parent))
    try:
        os.chmod(work, stat.S_IMODE(root.stat().st_mode))  # mkdtemp's folder is private (0700)
        for name in bundle.manifest.files:
            if name != TEXT_TABLE:
                _link_or_copy(root / name, work / name)
        save_file({"class_caption": np.ascontiguousarray(table.class_caption, dtype=np.float32),
                   "captions": np.ascontiguousarray(table.caption_features, dtype=np.float32)},
                  str(work / TEXT_TABLE))
        manifest = dataclasses.replace(
            bundle.manifest, format_version=FORMAT_VERSION, class_names=list(table.class_names),
            class_prompts=dict(table.class_prompts), captions=list(table.captions),
            edits=[*bundle.manifest.edits, record],
            model_card=card_after_edit(bundle.manifest.model_card, record))
        write_manifest(work, manifest, vouch_card=True)  # card_after_edit noted the edit
        edited = Bundle.load(work)  # hashes, shapes and names, as the robot will check them
        _try_temporal(work, edited.manifest)
        _swap(root, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Bundle.load(root)


def _swap(root: Path, work: Path) -> None:
    """Put `work` where `root` is. Ctrl-C and SIGTERM wait until both renames are done."""
    backup = backup_path(root)
    blocked = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        os.rename(root, backup)
        try:
            os.rename(work, root)
        except OSError:
            os.rename(backup, root)
            raise
        shutil.rmtree(backup)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def edit(path: str | Path, command: str, run_dir: str | Path | None = None, **options) -> Bundle:
    """Apply one edit (`COMMANDS` name) to the bundle at `path`; returns the edited bundle."""
    bundle = open_bundle(path)
    table = Table.of(bundle)
    apply, needs_text = COMMANDS[command]
    needs_text = needs_text and not options.get("keep_rows", False)
    if command in ("add-class", "remove-class"):
        check_class_axis(bundle)
    text, check = None, None
    if needs_text:
        from tcvads_ros.training.text_rows import TextRows

        run_dir = run_dir or bundle.manifest.source_run
        if not run_dir:
            raise BundleError(f"{bundle.root}: the manifest names no training run; pass --run RUN_DIR")
        text = TextRows(run_dir)
        check = text.check(table.prompts(), table.captions, bundle.text_table, bundle.root)
    new = apply(table, text, **options)
    record = {**new.record, "at": _now(), "tcvads_ros": __version__}
    if text is not None:
        record.update(run=str(Path(run_dir).resolve()), rows_check=check)
    return write_edit(bundle, new, record)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# name -> (edit, whether it needs the fine stage's text side)
COMMANDS = {
    "add-class": (add_class, True),
    "remove-class": (remove_class, False),
    "rename-class": (rename_class, True),
    "add-caption": (add_captions, True),
}


# --- the command line --------------------------------------------------------------------------

def configure_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="edit", metavar="EDIT", required=True)

    def command(name: str, help_text: str, text_side: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("bundle", type=Path, help="bundle folder (edited in place, atomically)")
        if text_side:
            p.add_argument("--run", type=Path, default=None,
                           help="training run the bundle was exported from (default: the manifest's source_run)")
        return p

    p = command("add-class", "add a class: its rows from the fine stage's text side, no retraining")
    p.add_argument("name", help="class name, as explanations will report it")
    p.add_argument("--prompt", default=None, help="label text the text encoder reads (default: the name)")
    p = command("remove-class", "remove a class and its rows", text_side=False)
    p.add_argument("name")
    p = command("rename-class", "rename a class; its rows are recomputed from the new name")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--keep-rows", action="store_true",
                   help="keep the rows (only the name shown changes; no text side needed)")
    p = command("add-caption", "add captions to the bank: their rows for every class")
    p.add_argument("captions", nargs="+", metavar="CAPTION")
    sub.add_parser("show", help="print the classes, prompts, captions and edits of a bundle",
                   description="print the classes, prompts, captions and edits of a bundle").add_argument(
        "bundle", type=Path)


def run(args: argparse.Namespace) -> int:
    if args.edit == "show":
        return show(open_bundle(args.bundle))
    options = {k: v for k, v in vars(args).items() if k not in ("command", "edit", "bundle", "run")}
    bundle = edit(args.bundle, args.edit, getattr(args, "run", None), **options)
    last = bundle.manifest.edits[-1]
    print(f"{bundle.root}: {last['command']} done; {len(bundle.class_names)} classes, "
          f"{len(bundle.captions)} captions; verified")
    return 0


def show(bundle: Bundle) -> int:
    m = bundle.manifest
    print(f"{bundle.root}: {len(m.class_names)} classes, {len(m.captions)} captions, top_m {m.top_m}")
    for name in m.class_names:
        prompt = m.class_prompts.get(name)
        print(f"  class {name}" + (f"  (prompt: {prompt})" if prompt else ""))
    for record in m.edits:
        print("  edit " + json.dumps(to_mapping(record), ensure_ascii=False))
    print("  " + describe(bundle.card, bundle.root))
    if bundle.card is not None:
        for limit in bundle.card.limitations:
            print(f"  limitation: {limit}")
        made = bundle.card.made_by
        print(f"  made by: {made.get('command', '?')} (commit {made.get('commit') or 'unknown'})")
    return 0
