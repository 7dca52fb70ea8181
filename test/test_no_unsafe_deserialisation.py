# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""Nothing user-supplied is ever unpickled (docs/failures.md).

Two halves:
- a scan of the project's source (tcvads_ros/, training/, benchmarks/, scripts/, launch/) that
  fails, naming file:line, on `import pickle` (and its relatives), `pickle.load(s)`,
  `torch.load` without ``weights_only=True``, `np.load(..., allow_pickle=<not False>)`,
  `yaml.load` without a safe loader, `pandas.read_pickle` and `joblib.load`;
- checkpoints carrying a live pickle payload (it creates a marker file when unpickled; a control
  test proves it does) handed to torch.load(weights_only=True), safetensors and the project's own
  loaders: each refuses the file and the marker never appears.
"""

from __future__ import annotations

import ast
import contextlib
import os
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SCANNED = ["tcvads_ros", "training", "benchmarks", "scripts", "launch"]
PICKLE_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "dill",
    "cloudpickle",
    "jsonpickle",
    "shelve",
    "marshal",
}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader"}


def _name(node: ast.AST) -> str:
    """Dotted name of a call target: `torch.load`, `np.load`, `pickle.loads`, `load`..."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_constant(node: ast.AST | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unsafe_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) for every unsafe deserialisation in Python `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, f"import {a.name}")
                for a in node.names
                if a.name.split(".")[0] in PICKLE_MODULES
            ]
        elif (
            isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PICKLE_MODULES
        ):
            found.append((node.lineno, f"from {node.module} import ..."))
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            head, _, last = name.rpartition(".")
            if head.split(".")[0] in PICKLE_MODULES and last in {"load", "loads", "Unpickler"}:
                found.append((node.lineno, f"{name}()"))
            elif name == "torch.load" and not _is_constant(_keyword(node, "weights_only"), True):
                found.append((node.lineno, "torch.load() without weights_only=True"))
            elif last == "load" and head in {"np", "numpy"}:
                allow = _keyword(node, "allow_pickle")
                if allow is not None and not _is_constant(allow, False):
                    found.append((node.lineno, "np.load(allow_pickle=...) that may unpickle"))
            elif name in {"yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all"}:
                found.append((node.lineno, f"{name}()"))
            elif name in {"yaml.load", "yaml.load_all"}:
                loader = _keyword(node, "Loader")
                if loader is None or _name(loader).rpartition(".")[2] not in SAFE_YAML_LOADERS:
                    found.append((node.lineno, f"{name}() without a safe Loader"))
            elif last == "read_pickle" or name == "joblib.load":
                found.append((node.lineno, f"{name}()"))
    return sorted(found)


def test_project_source_never_unpickles():
    problems = []
    files = [
        p for root in SCANNED if (REPO / root).is_dir() for p in sorted((REPO / root).rglob("*.py"))
    ]
    assert any(p.parts[-2:] == ("runtime", "events.py") for p in files), (
        "scan found no project files"
    )
    for path in files:
        rel = path.relative_to(REPO)
        try:
            uses = unsafe_uses(path.read_text(encoding="utf-8"))
        except SyntaxError as exc:
            problems.append(f"{rel}:{exc.lineno}: cannot be parsed ({exc.msg})")
            continue
        problems += [f"{rel}:{line}: {what}" for line, what in uses]
    assert not problems, (
        "unsafe deserialisation (use safetensors / weights_only=True):\n" + "\n".join(problems)
    )


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "import dill as d",
        "from pickle import loads",
        "from _pickle import Unpickler",
        "x = pickle.load(f)",
        "x = cPickle.loads(b)",
        "import torch\nm = torch.load(p)",
        "m = torch.load(p, weights_only=False)",
        "m = torch.load(p, weights_only=flag)",
        "a = np.load(p, allow_pickle=True)",
        "a = numpy.load(p, allow_pickle=flag)",
        "c = yaml.load(text)",
        "c = yaml.load(text, Loader=yaml.Loader)",
        "c = yaml.unsafe_load(text)",
        "df = pd.read_pickle(p)",
        "m = joblib.load(p)",
    ],
)
def test_scanner_flags_each_unsafe_pattern(snippet):
    assert unsafe_uses(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "m = torch.load(p, map_location='cpu', weights_only=True)",
        "a = np.load(p)",
        "a = np.load(p, allow_pickle=False, mmap_mode='r')",
        "c = yaml.safe_load(text)",
        "c = yaml.load(text, Loader=yaml.SafeLoader)",
        "from safetensors.torch import load_file\nw = load_file(p)",
        "s = json.loads(t)",
        "'''text mentioning pickle.load( in a docstring'''",
    ],
)
def test_scanner_accepts_safe_loading(snippet):
    assert unsafe_uses(snippet) == []


# ------------------------------------------------------------ malicious checkpoints are not run


def pickle_payload(marker: Path) -> bytes:
    """Protocol-2 pickle bytes that run ``getattr(pathlib.Path(marker), "touch")()`` when unpickled.

    Written out opcode by opcode (GLOBAL, BINUNICODE, TUPLE1/2, EMPTY_TUPLE, REDUCE, STOP) so
    the test needs no pickle module of its own.
    """

    def text(value: str) -> bytes:
        return b"X" + struct.pack("<I", len(value.encode())) + value.encode()

    return (
        b"\x80\x02cbuiltins\ngetattr\n"
        + b"cpathlib\nPath\n" + text(str(marker)) + b"\x85R"  # Path(marker)
        + text("touch") + b"\x86R"  # getattr(..., "touch")
        + b")R."  # ...() and stop
    )  # fmt: skip


@pytest.fixture
def evil(tmp_path):
    """Malicious files: a zip-format .pt (torch.save layout), a legacy raw .pt and an .npy."""
    import torch

    marker = tmp_path / "PAYLOAD_RAN"
    good = tmp_path / "good.pt"
    torch.save({"weight": torch.zeros(3)}, good)
    zipped = tmp_path / "evil.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(zipped, "w") as dst:
        for name in src.namelist():
            dst.writestr(
                name, pickle_payload(marker) if name.endswith("data.pkl") else src.read(name)
            )
    raw = tmp_path / "evil_legacy.pt"
    raw.write_bytes(pickle_payload(marker))
    npy = tmp_path / "evil.npy"
    with open(npy, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|O", "fortran_order": False, "shape": (1,)}
        )
        f.write(pickle_payload(marker))
    return {"marker": marker, "pt": zipped, "legacy": raw, "npy": npy}


def test_control_the_payload_is_live(evil):
    # Proves the files are really dangerous, so the refusals below mean something. The payload
    # only creates an empty file in the test's tmp folder.
    import torch

    for kind in ("pt", "legacy"):
        with contextlib.suppress(Exception):  # the legacy reader fails after unpickling
            torch.load(evil[kind], weights_only=False)
        assert evil["marker"].exists(), (
            f"the {kind} payload did not run; the test would prove nothing"
        )
        evil["marker"].unlink()
    np.load(evil["npy"], allow_pickle=True)
    assert evil["marker"].exists()


def test_torch_load_weights_only_refuses(evil):
    import torch

    for kind in ("pt", "legacy"):
        with pytest.raises(Exception, match="Weights only load failed"):
            torch.load(evil[kind], weights_only=True)
    assert not evil["marker"].exists()


def test_safetensors_refuses_a_pickle_file(evil):
    from safetensors import SafetensorError
    from safetensors.numpy import load_file as load_numpy
    from safetensors.torch import load_file as load_torch

    for kind in ("pt", "legacy"):
        for load in (load_torch, load_numpy):
            with pytest.raises(SafetensorError, match="deserializing header"):
                load(str(evil[kind]))
    assert not evil["marker"].exists()


def test_training_checkpoint_loader_refuses_a_pickle_posing_as_safetensors(evil, tmp_path):
    from tcvads_ros.training.run_folder import RunFolder

    run = RunFolder(tmp_path / "run")
    shutil.copy(evil["pt"], run.path("student.safetensors"))
    with pytest.raises(Exception, match="header"):
        run.load_model_state("student")
    assert not evil["marker"].exists()


def test_feature_loader_refuses_a_pickled_npy(evil):
    from tcvads_ros.errors import DataError
    from tcvads_ros.training.feature_datasets import load_features

    with pytest.raises(DataError, match="allow_pickle=False|Object arrays"):
        load_features(evil["npy"])
    assert not evil["marker"].exists()


def test_fine_stage_clip_checkpoint_refuses_a_pickle(evil, tiny_clip):
    from tcvads_ros.errors import ConfigError
    from tcvads_ros.models.captions import CaptionBank
    from tcvads_ros.models.fine import FineConfig, FineStage

    cfg = FineConfig(clip_model=tiny_clip, checkpoint=str(evil["pt"]), n_ctx=2)
    with pytest.raises(ConfigError, match="Weights only load failed|weights_only"):
        FineStage(cfg, ["Normal", "Fighting"], CaptionBank(["a street"]))
    assert not evil["marker"].exists()
    assert not os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"), "weights_only was switched off"
