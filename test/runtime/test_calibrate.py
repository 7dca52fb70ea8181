# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""`tcvads calibrate` on a file, a folder and a bag; the profile in `tcvads detect` and the nodes;
bad input refused. The redness bundle scores a frame high exactly while it is mostly red, so the
footage's false alarms are known: one red flash in otherwise normal footage."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
from tiny_bundle import make_redness_bundle, red_scene, write_red_video

from tcvads_ros.cli import main
from tcvads_ros.errors import ConfigError
from tcvads_ros.nodes import parameters as P
from tcvads_ros.runtime.backends import create_backend
from tcvads_ros.runtime.pipeline import PipelineConfig, TwoStagePipeline
from tcvads_ros.runtime.site_profile import (
    SecondOpinion,
    SiteProfile,
    bundle_events,
    bundle_threshold,
    coarse_graph_hashes,
    event_settings,
    fine_file_hashes,
    verdict_settings,
)

FPS, SECONDS, FLASH = 25.0, 24.0, [(8.0, 11.0)]  # 24 s of footage, a 3 s red flash in it
SIZE = (48, 64)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_redness_bundle(tmp_path_factory.mktemp("redness") / "b")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_red_video(tmp_path_factory.mktemp("footage") / "site.avi", SECONDS, FPS, FLASH)


def frames():
    return [red_scene(i, FPS, FLASH, SIZE) for i in range(int(SECONDS * FPS))]


def write_folder(folder):
    folder.mkdir()
    for i, rgb in enumerate(frames()):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def write_bag(path):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    Image, Header, Time = (store.types[t] for t in
                           ("sensor_msgs/msg/Image", "std_msgs/msg/Header", "builtin_interfaces/msg/Time"))
    with Writer(path, version=9) as writer:
        conn = writer.add_connection("/camera/image_raw", Image.__msgtype__, typestore=store)
        for i, rgb in enumerate(frames()):
            ns = 1_000_000_000 * 50 + int(round(i / FPS * 1e9))
            header = Header(stamp=Time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id="cam")
            msg = Image(header=header, height=SIZE[0], width=SIZE[1], encoding="rgb8", is_bigendian=0,
                        step=3 * SIZE[1], data=np.ascontiguousarray(rgb).reshape(-1))
            writer.write(conn, ns, store.serialize_cdr(msg, Image.__msgtype__))
    return path


def calibrate(bundle, sources, budget, out, *extra):
    return main(["calibrate", str(bundle.root), "--normal", *map(str, sources),
                 "--false-alarms-per-hour", str(budget), "--out", str(out), "--backend", "onnxruntime",
                 "--quiet", *extra])


def starts(capsys):
    return capsys.readouterr().out.count("START")


def test_a_video_file_profile_that_detect_accepts(bundle, video, tmp_path, capsys):
    # 24 s without any alarm certifies at most 3.0 / (24 s) = 449/h at 95 %: a budget of 500/h
    # allows no alarm on the footage, so the threshold must rise above the flash.
    profile_path = tmp_path / "site.json"
    assert calibrate(bundle, [video], 500, profile_path, "--plot", str(tmp_path / "sweep.png")) == 0
    out = capsys.readouterr().out
    assert "bundle threshold 0.500: 1 false alarms" in out and (tmp_path / "sweep.png").is_file()
    profile = SiteProfile.load(profile_path)
    assert profile.calibration["alarms"] == 0 and profile.calibration["bundle_alarms"] == 1
    assert profile.calibration["upper_per_hour"] <= 500
    assert 0.5 < profile.events.threshold_on <= 1.0
    assert profile.events.threshold_off <= profile.events.threshold_on

    detect = ["detect", str(video), "--bundle", str(bundle.root), "--no-fine", "--backend", "onnxruntime"]
    assert main(detect) == 0 and starts(capsys) == 1  # the bundle's threshold: the flash alarms
    assert main([*detect, "--site", str(profile_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("START") == 0 and f"threshold on {profile.events.threshold_on:.3f}" in out
    # --threshold still overrides the profile's
    assert main([*detect, "--site", str(profile_path), "--threshold", "0.5"]) == 0 and starts(capsys) == 1


def test_a_loose_budget_keeps_a_low_threshold(bundle, video, tmp_path, capsys):
    # One alarm in 24 s: at most 4.74 / (24 s) = 711/h at 95 %, within 2000/h.
    assert calibrate(bundle, [video], 2000, tmp_path / "site.json") == 0
    profile = SiteProfile.load(tmp_path / "site.json")
    assert profile.calibration["alarms"] == 1 and profile.events.threshold_on < 0.5


def test_a_folder_and_a_bag_count_the_same_alarms_as_the_file(bundle, video, tmp_path, capsys):
    folder = write_folder(tmp_path / "images")
    bag = write_bag(tmp_path / "bag")
    out = tmp_path / "site.json"
    assert calibrate(bundle, [folder, bag, video], 200, out, "--fps", str(FPS)) == 0
    profile = SiteProfile.load(out)
    calibration = profile.calibration
    assert len(calibration["recordings"]) == 3 and calibration["bundle_alarms"] == 3  # one flash each
    assert calibration["hours"] == pytest.approx(3 * SECONDS / 3600, rel=0.02)
    assert calibration["alarms"] == 0  # 72 s: 150/h with none, 200/h would not hold one more
    # a folder of video files stands for its videos
    videos = tmp_path / "videos"
    videos.mkdir()
    for k in range(2):
        (videos / f"{k}.avi").write_bytes(video.read_bytes())
    assert calibrate(bundle, [videos], 400, tmp_path / "two.json") == 0
    assert len(SiteProfile.load(tmp_path / "two.json").calibration["recordings"]) == 2


def test_bad_input_is_refused_and_nothing_is_written(bundle, video, tmp_path, capsys):
    out = tmp_path / "site.json"
    # too little footage for the budget: says how much is needed
    assert calibrate(bundle, [video], 50, out) == 2
    err = capsys.readouterr().err
    assert "cannot show a rate of at most 50/h" in err and "record more normal footage" in err
    assert not out.exists()
    assert calibrate(bundle, [tmp_path / "missing.avi"], 50, out) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert calibrate(bundle, ["0"], 50, out) == 2
    assert "a camera is a live stream" in capsys.readouterr().err
    assert calibrate(bundle, [video], 0, out) == 2
    assert "--false-alarms-per-hour must be > 0" in capsys.readouterr().err
    assert calibrate(bundle, [video], 500, out, "--confidence", "1") == 2
    assert calibrate(bundle, [video], 500, tmp_path / "site.yaml") == 2
    assert not out.exists()
    out.write_text("{}")
    assert calibrate(bundle, [video], 500, out) == 2
    assert "add --overwrite" in capsys.readouterr().err and out.read_text() == "{}"


def test_a_profile_for_other_graphs_or_a_damaged_one_is_refused(bundle, video, tmp_path, capsys):
    profile_path = tmp_path / "site.json"
    assert calibrate(bundle, [video], 500, profile_path) == 0
    other = make_redness_bundle(tmp_path / "other", level=0.5)  # another QACM graph
    assert main(["detect", str(video), "--bundle", str(other.root), "--site", str(profile_path),
                 "--quiet"]) == 2
    assert "calibrated for other coarse graphs" in capsys.readouterr().err
    data = json.loads(profile_path.read_text())
    for damage, message in [
        (lambda d: d["events"].pop("cooldown_s"), "'events' must hold exactly"),
        (lambda d: d["events"].update(threshold_off=0.99, threshold_on=0.5), "threshold_off <= threshold_on"),
        (lambda d: d.update(version=7), "version 7"),
        (lambda d: d["events"].update(min_duration_s="soon"), "must be a finite number"),
    ]:
        broken = json.loads(json.dumps(data))
        damage(broken)
        path = tmp_path / "broken.json"
        path.write_text(json.dumps(broken))
        with pytest.raises(ConfigError, match=message):
            SiteProfile.load(path)
    (tmp_path / "junk.json").write_text("not json")
    with pytest.raises(ConfigError, match="not a readable JSON"):
        SiteProfile.load(tmp_path / "junk.json")


def test_coarse_node_parameters_take_the_profile(bundle, video, tmp_path, capsys):
    profile_path = tmp_path / "site.json"
    assert calibrate(bundle, [video], 500, profile_path) == 0
    profile = SiteProfile.load(profile_path)
    values = {**P.defaults(P.COARSE), "bundle": str(bundle.root)}

    def settings(values, profile):  # as coarse_node chooses them
        return event_settings(bundle_threshold(bundle), profile, **P.event_arguments(values))

    events = settings(values, None)  # no profile: the bundle's
    assert (events.threshold_on, events.threshold_off) == (0.5, pytest.approx(0.5 * 0.8))
    values["site_profile"] = str(profile_path)
    loaded = SiteProfile.load_for(profile_path, bundle)
    calibrated = (profile.events.threshold_on, profile.events.threshold_off)
    events = settings(values, loaded)
    assert (events.threshold_on, events.threshold_off) == calibrated
    # an explicit threshold_on still wins, with the default hysteresis
    events = settings({**values, "threshold_on": 0.7}, loaded)
    assert (events.threshold_on, events.threshold_off) == (0.7, pytest.approx(0.7 * 0.8))
    assert P.check_yaml({"coarse_node": {"ros__parameters": {"site_profile": str(profile_path)}}})
    other = make_redness_bundle(tmp_path / "other", level=0.5)
    with pytest.raises(ConfigError, match="other coarse graphs"):
        SiteProfile.load_for(profile_path, other)


def test_the_profiles_timings_apply_where_the_parameters_keep_their_defaults(bundle, tmp_path):
    """coarse_node and `tcvads detect --site` take a profile's timings alike; a timing parameter
    set to another value than its default wins over the profile's."""
    profile = SiteProfile(dataclasses.replace(bundle_events(bundle), min_duration_s=1.25, cooldown_s=7.0),
                          coarse_graph_hashes(bundle))
    values = P.defaults(P.COARSE)
    events = event_settings(bundle_threshold(bundle), profile, **P.event_arguments(values))
    assert events == profile.events
    events = event_settings(bundle_threshold(bundle), profile, **P.event_arguments({**values, "cooldown_s": 3.0}))
    assert (events.min_duration_s, events.cooldown_s) == (1.25, 3.0)


def test_second_opinion_calibrates_a_fine_threshold_that_detect_applies(bundle, video, tmp_path, capsys):
    # The flash is the footage's one alarm (at most 711/h at 95 %, within 2000/h). A confirmed
    # budget of 500/h allows no confirmed alarm: the fine threshold must dispute the flash's clip.
    path = tmp_path / "site.json"
    assert calibrate(bundle, [video], 2000, path, "--second-opinion", "--confirmed-per-hour", "500",
                     "--confirm-with-fine") == 0
    assert "second opinion: fine threshold" in capsys.readouterr().out
    profile = SiteProfile.load_for(path, bundle)
    (score,) = profile.calibration["fine_scores"]
    assert profile.calibration["fine_alarms"] == 1 and profile.calibration["fine_confirmed"] == 0
    assert profile.second_opinion.fine_threshold > score and profile.second_opinion.fine_threshold >= 0.5
    assert profile.second_opinion.confirm_with_fine
    assert verdict_settings(0.5, profile) == profile.second_opinion
    assert verdict_settings(0.5, profile, fine_threshold=0.0, confirm_with_fine=False) == SecondOpinion(0.0, False)
    assert verdict_settings(0.7) == SecondOpinion(0.7, False)
    # detect holds the start for its verdict and announces it, disputed
    events = tmp_path / "events.jsonl"
    assert main(["detect", str(video), "--bundle", str(bundle.root), "--backend", "onnxruntime", "--site",
                 str(path), "--events", str(events)]) == 0
    out = capsys.readouterr().out
    assert out.count("START") == 1 and "DISPUTED (fine anomaly score" in out and "DISPUTED t=" in out
    records = [json.loads(line) for line in events.read_text().splitlines()]
    (explanation,) = [r for r in records if r["record_type"] == "explanation"]
    assert explanation["verdict"] == "disputed"
    assert explanation["fine_threshold"] == profile.second_opinion.fine_threshold
    # an explicit --fine-threshold wins over the profile's: confirmed at 0
    assert main(["detect", str(video), "--bundle", str(bundle.root), "--backend", "onnxruntime", "--site",
                 str(path), "--fine-threshold", "0", "--quiet", "--events", str(events)]) == 0
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert [r["verdict"] for r in records if r["record_type"] == "explanation"] == ["confirmed"]
    # a budget the footage cannot certify is refused, nothing written
    assert calibrate(bundle, [video], 2000, tmp_path / "no.json", "--second-opinion", "--confirmed-per-hour",
                     "100") == 2
    assert "confirmed false alarms of at most 100/h" in capsys.readouterr().err
    assert not (tmp_path / "no.json").exists()


def test_a_fine_threshold_is_refused_for_other_fine_files_and_a_damaged_one(bundle, tmp_path):
    profile = SiteProfile(bundle_events(bundle), coarse_graph_hashes(bundle), second_opinion=SecondOpinion(0.8),
                          fine_files=fine_file_hashes(bundle))
    path = profile.save(tmp_path / "site.json")
    assert SiteProfile.load_for(path, bundle).second_opinion == SecondOpinion(0.8, False)
    # coarse_node's in-process fine stage takes the profile's fine threshold, and its own
    # confirm_with_fine where set (PipelineConfig.for_coarse_node)
    values = {**P.defaults(P.COARSE), "fine_stage_in_process": True, "site_profile": str(path),
              "confirm_with_fine": True}
    backend = create_backend("onnxruntime", bundle)
    pipeline = TwoStagePipeline(bundle, backend, PipelineConfig.for_coarse_node(values, profile.events, None))
    try:
        assert pipeline.second_opinion == SecondOpinion(0.8, True) and pipeline.fine.fine_threshold == 0.8
        assert pipeline.gate is not None  # confirm_with_fine on
    finally:
        pipeline.close(timeout=10)
        backend.close()
    data = json.loads(path.read_text())
    data["second_opinion"]["fine_files"]["text_table.safetensors"] = "0" * 64  # e.g. a class added
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="calibrate --second-opinion"):
        SiteProfile.load_for(path, bundle)
    assert SiteProfile.load_for(path, bundle, fine=False).events == profile.events  # no fine stage: usable
    for damage, message in [
        (lambda d: d["second_opinion"].update(fine_threshold=1.5), "fine_threshold"),
        (lambda d: d["second_opinion"].update(confirm_with_fine="yes"), "confirm_with_fine"),
        (lambda d: d["second_opinion"].pop("fine_files"), "must hold exactly"),
    ]:
        broken = json.loads(json.dumps(data))
        damage(broken)
        path.write_text(json.dumps(broken))
        with pytest.raises(ConfigError, match=message):
            SiteProfile.load(path)
    # a profile without the section reads as before: no second opinion
    data.pop("second_opinion")
    path.write_text(json.dumps(data))
    assert SiteProfile.load_for(path, bundle).second_opinion is None
