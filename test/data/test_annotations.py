# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

from tcvads_ros.data import annotations as ann
from tcvads_ros.errors import DataError


def test_real_xd_files_parse_and_agree(vadclip_lists):
    pairs = ann.read_xd_annotations(vadclip_lists / "annotations.txt")
    multi = ann.read_xd_multiclass(vadclip_lists / "annotations_multiclasses.txt")
    assert len(pairs) == len(multi) == 500
    # Every name carries a valid label; the real multiclass file is not always consistent with
    # it (a few segments carry a code the name lacks), so only validity is checked here.
    for name, segs in multi.items():
        ann.xd_codes(ann.xd_label_of_name(name))
        assert all(s.label in ann.XD_CODES for s in segs)
    assert set(pairs) == set(multi)
    test_list = ann.read_feature_list(vadclip_lists / "xd_CLIP_rgbtest.csv")
    assert len(test_list) == 800
    assert sum(e.label == "A" for e in test_list) == 300


def test_real_ucf_files_parse(vadclip_lists):
    temporal = ann.read_ucf_temporal(vadclip_lists / "Temporal_Anomaly_Annotation.txt")
    assert len(temporal) == 290
    normal = [n for n, s in temporal.items() if not s]
    assert len(normal) == 150
    labels = {s.label for segs in temporal.values() for s in segs}
    assert labels <= set(ann.UCF_CLASSES)


def test_xd_label_roundtrip():
    assert ann.xd_codes("B1-B2-0") == ["B1", "B2"]
    assert ann.xd_label_string(["B1"]) == "B1-0-0"
    assert ann.xd_label_string(["A"]) == "A"
    assert ann.xd_label_of_name("x__#1_label_G-B2-B6__0.npy") == "G-B2-B6"
    with pytest.raises(ValueError, match="unknown XD-Violence code"):
        ann.xd_codes("B3-0-0")


def test_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "annotations.txt"
    bad.write_text("a_label_B1-0-0 10 20\nb_label_B1-0-0 30 x\n")
    with pytest.raises(DataError, match=r"annotations.txt:2: expected a frame number"):
        ann.read_xd_annotations(bad)
    csvf = tmp_path / "list.csv"
    csvf.write_text("path,label\na.npy,A\nonly-one-field\n")
    with pytest.raises(DataError, match=r"list.csv:3"):
        ann.read_feature_list(csvf)


def test_writers_roundtrip(tmp_path):
    segs = {"v_label_B1-0-0": [ann.Segment("B1", 3, 9)], "n_label_A": []}
    ann.write_xd_annotations(tmp_path / "a.txt", segs)
    ann.write_xd_multiclass(tmp_path / "m.txt", segs)
    assert ann.read_xd_annotations(tmp_path / "a.txt") == {"v_label_B1-0-0": [(3, 9)]}
    assert ann.read_xd_multiclass(tmp_path / "m.txt") == {"v_label_B1-0-0": [ann.Segment("B1", 3, 9)]}


def test_frame_labels_half_open_and_clipped():
    gt = ann.frame_labels([ann.Segment("B1", 2, 4), (8, 100)], 10)
    np.testing.assert_array_equal(gt, [0, 0, 1, 1, 0, 0, 0, 0, 1, 1])
