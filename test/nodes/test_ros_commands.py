# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
"""What a ROS 2 user types, typed: the documented `colcon build`, `source install/setup.bash`,
`ros2 launch`, `ros2 topic echo`, `ros2 node list`, `ros2 param get/set` and Ctrl-C, as separate
processes in bash under real rclpy and Fast DDS.

The command lines come from docs/ros2.md itself (`documented_commands.ros2_commands`), with the
documentation's placeholders (`/data/tcvads/bundle`, `/data/patrol_2024-05-01`) replaced by a
bundle and a recording made here; `test_every_documented_ros2_command_is_typed` holds the
documentation and this file to each other. The bundle's coarse score is a known function of the
picture (how red it is), so the synthetic video's fire must raise an event.

Needs ROS 2 with the launch system, ros2 and colcon (`scripts/install_ros.sh` installs them from
ROS 2's sources where a registry has none); in CI (TCVADS_REQUIRE_ROS=1) none of this may skip.
The commands run with HOME in a scratch folder, so event stores and logs stay out of the user's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from documented_commands import ros2_commands
from ros_harness import BIN, REPO, wait_until, write_wav
from tiny_bundle import TINY_AUDIO, make_redness_bundle, write_red_bag, write_red_video

pytestmark = [pytest.mark.launch_testing, pytest.mark.rclpy, pytest.mark.slow]

DOC = REPO / "docs" / "ros2.md"
FPS = 24.0
# Lines of docs/ros2.md that cannot run on a machine without a GPU or rosbag2; test_documented_
# commands.py checks them against the launch files instead.
NOT_RUN_HERE = {
    "backend:=tensorrt": "needs TensorRT and an NVIDIA GPU",
    "rate:=1.0": "plays the bag with `ros2 bag play`: rosbag2 is not on the package registry",
}
# Process groups started here, killed at the end whatever happened.
STARTED: list[subprocess.Popen] = []
# Every command line typed here.
TYPED: set[str] = set()
PATH = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # the venv's ros2, colcon and python first


class Terminal:
    """A terminal in which `source install/setup.bash` of a colcon workspace was run."""

    def __init__(self, workspace: Path, home: Path) -> None:
        self.workspace = workspace
        self.env = {**os.environ, **PATH, "HOME": str(home)}

    def _bash(self, line: str, exec_: bool = False) -> list[str]:
        TYPED.add(line)
        return ["bash", "-c", f"source {self.workspace}/install/setup.bash && {'exec ' if exec_ else ''}{line}"]

    def run(self, line: str, timeout: float = 60.0) -> str:
        """Run a command to its end; its output (stdout and stderr), which must report success.
        "Node not found" is typed again, up to five times: discovery is eventually consistent, and
        under load the ros2 daemon's graph can miss a running node for a moment."""
        for _ in range(5):
            proc = subprocess.run(self._bash(line), cwd=self.workspace, env=self.env, capture_output=True,
                                  text=True, timeout=timeout)
            if proc.returncode == 0 or "Node not found" not in proc.stdout + proc.stderr:
                break
            time.sleep(1.0)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        return proc.stdout + proc.stderr

    def poll(self, line: str, timeout: float = 60.0) -> str:
        """Run a command that is polled until its output says something (in `wait_until`): its
        output, or "" where it failed (the ros2 daemon still starting, a node not yet discovered)."""
        TYPED.add(line)
        proc = subprocess.run(self._bash(line), cwd=self.workspace, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        return proc.stdout + proc.stderr if proc.returncode == 0 else ""

    def start(self, line: str, log: Path) -> subprocess.Popen:
        """Start a long-running command (its own process group, as a terminal's foreground job)."""
        out = open(log, "w")  # noqa: SIM115 - the process owns it; closed when the test module ends
        proc = subprocess.Popen(self._bash(line, exec_=True), cwd=self.workspace, env=self.env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        proc.log = log
        STARTED.append(proc)
        return proc


def publisher_known(terminal: Terminal, topic: str) -> None:
    """Wait until `ros2 topic info` sees a publisher on `topic`: `ros2 topic echo` learns the
    message type from one, and exits ("Could not determine the type") where the ros2 daemon has
    discovered the node but not yet its publisher."""
    wait_until(lambda: re.search(r"Publisher count: [1-9]", terminal.poll(f"ros2 topic info {topic}")), 60,
               f"a publisher on {topic}", step=0.5)


def stop(*procs: subprocess.Popen | None) -> None:
    """Whatever is still running of `procs`: SIGINT, then SIGKILL to its process group."""
    for proc in procs:
        if proc is None or proc.poll() is not None:
            continue
        try:
            interrupt(proc, 20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def interrupt(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    """Ctrl-C: SIGINT to the command, and its exit status."""
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout)


def text(proc: subprocess.Popen) -> str:
    return Path(proc.log).read_text(errors="replace")


def documented(start: str, **values: str) -> str:
    """The ros2/colcon line of docs/ros2.md that is `start`, or else the one that starts with it,
    with its placeholders replaced by `values` (placeholder -> value)."""
    lines = [line for line in ros2_commands(DOC) if line == start] or \
        [line for line in ros2_commands(DOC) if line.startswith(start)]
    assert len(lines) == 1, f"docs/ros2.md: {len(lines)} lines start with {start!r}: {lines}"
    line = lines[0]
    for placeholder, value in values.items():
        line = line.replace(placeholder, value)
    return line


def echoed(output: str) -> list[dict]:
    """The typed /anomaly messages in `ros2 topic echo /anomaly` output (YAML, one per `---`)."""
    messages = [yaml.safe_load(chunk) for chunk in output.split("\n---") if "\nkind: " in "\n" + chunk]
    return [m for m in messages if isinstance(m, dict)]


def echoed_json(output: str) -> list[dict]:
    """The /anomaly/json documents in `ros2 topic echo --full-length` output."""
    return [json.loads(line[len("data: '"):-1]) for line in output.splitlines() if line.startswith("data: '{")]


def keys(document: dict) -> list:
    """The field names of a message or document, nested ones as (name, [their keys])."""
    return [(k, keys(v)) if isinstance(v, dict) else k for k, v in document.items()]


@pytest.fixture(scope="module", autouse=True)
def nothing_outlives_the_module():
    yield
    # `ros2 node list` and friends started the ros2 daemon (of this session's ROS domain)
    subprocess.run([str(BIN / "ros2"), "daemon", "stop"], env={**os.environ, **PATH}, capture_output=True,
                   timeout=30)
    for proc in STARTED:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    STARTED.clear()


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory) -> dict[str, Path]:
    """The checkout (its files, as a clone with these edits has them) in the `src/` of two colcon
    workspaces, one built with the documented `colcon build --symlink-install`, one plain."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    built = {}
    for kind in ("symlink", "plain"):
        workspace = tmp_path_factory.mktemp(f"ws_{kind}")
        source = workspace / "src" / "tcvads_ros"
        for name in filter(None, files):
            if (REPO / name).is_file():
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                (source / name).write_bytes((REPO / name).read_bytes())
        built[kind] = workspace
    return built


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def terminal(workspaces, home) -> Terminal:
    """The symlink-install workspace built, as docs/ros2.md builds it (both packages), and sourced."""
    workspace = workspaces["symlink"]
    colcon_build(workspace, documented("colcon build --symlink-install"))
    return Terminal(workspace, home)


def colcon_build(workspace: Path, line: str) -> None:
    """Type a `colcon build` line in the workspace folder."""
    TYPED.add(line)
    proc = subprocess.run(line, shell=True, cwd=workspace, env={**os.environ, **PATH}, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return make_redness_bundle(tmp_path_factory.mktemp("redness") / "bundle").root


@pytest.fixture(scope="module")
def launched(terminal, bundle, tmp_path_factory) -> dict:
    """edge.launch.py as documented, a camera (camera_player through `ros2 run`) playing a street
    on which a fire starts at 2 s and is still burning when the video ends, `ros2 topic echo
    /anomaly` (the typed message, and its --field score), `ros2 topic echo /anomaly/json
    --full-length`, `ros2 node list`, `ros2 param get/set`, and then Ctrl-C to `ros2 launch`
    with the event open. Returns every command's output."""
    tmp = tmp_path_factory.mktemp("launched")
    video = write_red_video(tmp / "street.avi", seconds=6.0, fps=FPS, anomalies=[(2.0, 6.0)])
    launch = terminal.start(documented("ros2 launch tcvads_ros edge.launch.py bundle:=/data/tcvads/bundle "
                                       "image_topic:=/camera/image_raw", **{"/data/tcvads/bundle": str(bundle)}),
                            tmp / "launch.log")
    out: dict = {}
    echo = score = full = None
    try:
        # Discovery is eventually consistent: the ros2 daemon's graph can miss a node for a moment
        # after listing it (seen under load), so the line is typed again until both are listed.
        out["node list"] = wait_until(
            lambda: (listed := terminal.poll(documented("ros2 node list")))
            and {"/coarse_node", "/fine_node"} <= set(listed.split()) and listed,
            90, "both nodes in `ros2 node list`", step=1.0, detail=lambda: text(launch)[-2000:])
        out["param get"] = terminal.run(documented("ros2 param get /coarse_node threshold_on"))
        out["param set"] = terminal.run(documented("ros2 param set /coarse_node threshold_on"))
        out["param get after set"] = terminal.run(documented("ros2 param get /coarse_node threshold_on"))
        out["param set read-only"] = terminal.run("ros2 param set /coarse_node bundle /elsewhere")
        out["qos parameter"] = terminal.run(documented("ros2 param get /coarse_node qos_overrides."))
        publisher_known(terminal, "/anomaly")
        publisher_known(terminal, "/anomaly/json")
        echo = terminal.start(documented("ros2 topic echo /anomaly"), tmp / "echo.log")
        score = terminal.start(documented("ros2 topic echo /anomaly --field score"), tmp / "echo_score.log")
        full = terminal.start(documented("ros2 topic echo /anomaly/json --full-length"), tmp / "echo_full.log")
        wait_until(lambda: terminal.poll("ros2 topic info /anomaly").count("Subscription count: 3")
                   and terminal.poll("ros2 topic info /anomaly/json").count("Subscription count: 1"), 30,
                   "the echoes subscribed to /anomaly and /anomaly/json", step=0.5)  # fine_node is the third
        player = terminal.run(documented("ros2 run tcvads_ros camera_player video.mp4 --topic /camera/image_raw",
                                         **{"video.mp4": str(video)}) + " --wait-subscribers 2", timeout=90)
        out["player"] = json.loads(player.strip().splitlines()[-1])
        wait_until(lambda: "\nkind: start" in text(echo), 30, "the event's start on `ros2 topic echo`")
        out["launch exit"] = interrupt(launch)  # Ctrl-C with the event open
        out["launch"] = text(launch)
        # Separate subscribers: each gets the end in its own time (under load, seconds apart).
        wait_until(lambda: "\nkind: end" in text(echo) and '"kind": "end"' in text(full)
                   and len(text(score).split("---")) > len(echoed(text(echo))), 30,
                   "the event's end on every `ros2 topic echo`", detail=lambda: text(echo)[-1000:] + text(full)[-1000:])
        for proc in (echo, score, full):
            interrupt(proc, 30)
        out["echo"], out["echo score"], out["echo full"] = text(echo), text(score), text(full)
    finally:
        if launch.poll() is None:
            out["launch"] = text(launch)
        stop(launch, echo, score, full)  # a failed fixture leaves no node behind for the tests after it
    return out


def test_colcon_build_symlink_install_installs_the_package_and_its_data_files(terminal):
    """Both packages of the clone, built in the workspace: the nodes import the workspace's
    tcvads_msgs, not the one install_ros.sh put into .venv."""
    share = terminal.workspace / "install" / "tcvads_ros" / "share" / "tcvads_ros"
    for name in ("package.xml", "launch/edge.launch.py", "launch/replay.launch.py", "config/edge.yaml",
                 "models/backbone-standin/backbone.json"):
        assert (share / name).is_file(), name
    assert (share / "launch" / "edge.launch.py").is_symlink()  # edits in src/ apply without a rebuild
    assert terminal.run("ros2 pkg prefix tcvads_ros").strip() == str(terminal.workspace / "install" / "tcvads_ros")
    executables = terminal.run("ros2 pkg executables tcvads_ros").split()
    assert {"coarse_node", "fine_node", "camera_player"} <= set(executables)
    msgs = terminal.workspace / "install" / "tcvads_msgs"
    assert terminal.run("ros2 pkg prefix tcvads_msgs").strip() == str(msgs)
    imported = terminal.run('python -c "import tcvads_msgs.msg as m; print(m.__file__, m.AnomalyEvent.KIND_START)"')
    assert imported.split() == [str(msgs / "lib" / "python3.11" / "site-packages" / "tcvads_msgs" / "msg" / "__init__.py"),
                                "start"]


@pytest.fixture(scope="module")
def plain_workspace(workspaces) -> Path:
    """The plain-install workspace built with the documented plain `colcon build` of both packages."""
    workspace = workspaces["plain"]
    colcon_build(workspace, documented("colcon build --base-paths"))
    return workspace


def test_plain_colcon_build_installs_a_copy_that_launches(plain_workspace, home):
    workspace = plain_workspace
    share = workspace / "install" / "tcvads_ros" / "share" / "tcvads_ros"
    assert (share / "launch" / "edge.launch.py").is_file() and not (share / "launch" / "edge.launch.py").is_symlink()
    assert (workspace / "install" / "tcvads_msgs" / "share" / "tcvads_msgs" / "msg" / "AnomalyEvent.msg").is_file()
    shown = Terminal(workspace, home).run("ros2 launch tcvads_ros edge.launch.py --show-args")
    assert "'fine_stage_in_process':" in shown and f"default: '{share / 'config' / 'edge.yaml'}'" in shown


def test_ros2_node_list_and_param_get_set(launched):
    assert {"/coarse_node", "/fine_node"} <= set(launched["node list"].split())
    assert launched["param get"].strip() == "Double value is: -1.0"
    assert launched["param set"].strip() == "Set parameter successful"
    assert launched["param get after set"].strip() == "Double value is: 0.6"
    assert launched["param set read-only"].strip() == "Setting parameter failed: Trying to set a read-only parameter: bundle."
    assert launched["qos parameter"].strip() == "String value is: transient_local"


def test_ros2_topic_echo_shows_the_event_and_ctrl_c_ends_it(launched):
    messages = echoed(launched["echo"])
    kinds = [m["kind"] for m in messages]
    assert kinds[0] == "start" and kinds[-1] == "end", kinds
    assert len({m["event_id"] for m in messages}) == 1
    end = messages[-1]
    assert end["reason"] == "shutdown" and end["header"]["frame_id"] == "camera"
    assert end["stream"] == "/camera/image_raw" and end["end_frame"] == end["frame"] + 1
    assert messages[0]["stamp"] == messages[0]["header"]["stamp"] and messages[0]["end_frame"] == -1
    # --field score: the scores alone, one per message, as the typed message has them
    scores = [float(chunk.strip()) for chunk in launched["echo score"].split("---") if chunk.strip()]
    assert scores == pytest.approx([m["score"] for m in messages]) and all(0.0 <= s <= 1.0 for s in scores)
    # anomaly/json: the same transitions as the event store's JSON documents
    documents = echoed_json(launched["echo full"])
    assert [(d["kind"], d["event_id"], d["frame"]) for d in documents] == [
        (m["kind"], m["event_id"], m["frame"]) for m in messages]
    assert all(d["schema"] == "tcvads.anomaly/2" for d in documents)
    assert documents[-1]["reason"] == "shutdown" and documents[-1]["header"]["frame_id"] == "camera"
    assert list(documents[0])[:4] == ["kind", "score", "stamp", "event_id"]  # what fits the default echo


def test_ctrl_c_stops_both_nodes_cleanly(launched):
    assert launched["launch exit"] == 0, launched["launch"][-3000:]
    finished = re.findall(r"\[(coarse_node|fine_node)-\d+\]: process has finished cleanly", launched["launch"])
    assert sorted(finished) == ["coarse_node", "fine_node"], launched["launch"][-3000:]
    assert launched["player"]["published"] == int(6.0 * FPS)


def test_the_documented_echo_output_is_what_ros2_topic_echo_prints(launched):
    """docs/ros2.md shows output captured by this test: the same fields, in the same order, for
    every kind of message shown, typed and as JSON (values differ from run to run)."""
    for marker, read, output in (("$ ros2 topic echo /anomaly", echoed, launched["echo"]),
                                 ("$ ros2 topic echo /anomaly/json --full-length", echoed_json, launched["echo full"])):
        block = next(blocks_after(DOC, marker))
        shown = read("\n".join(block))
        captured = {d["kind"]: keys(d) for d in read(output)}
        assert shown and {d["kind"] for d in shown} <= set(captured), marker
        for document in shown:
            assert keys(document) == captured[document["kind"]], marker


def blocks_after(path: Path, marker: str):
    """The lines after `marker` in each fenced block of `path` that contains it."""
    from documented_commands import blocks

    for block in blocks(path):
        if marker in block:
            yield block[block.index(marker) + 1:]


@pytest.fixture(scope="module")
def replayed(terminal, bundle, tmp_path_factory) -> dict:
    """replay.launch.py on a recorded bag, played by camera_player (no rosbag2 here), with the
    fine stage in coarse_node through the deprecated `fine_in_process` name."""
    tmp = tmp_path_factory.mktemp("replayed")
    bag = write_red_bag(tmp / "patrol", seconds=8.0, fps=FPS, anomalies=[(2.0, 6.0)])
    line = documented("ros2 launch tcvads_ros replay.launch.py bag:=/data/patrol_2024-05-01 "
                      "bundle:=/data/tcvads/bundle player:=camera_player",
                      **{"/data/patrol_2024-05-01": str(bag), "/data/tcvads/bundle": str(bundle)})
    launch = terminal.start(f"{line} start_delay:=3.0 fine_in_process:=true", tmp / "launch.log")
    echo = None
    try:
        # echo learns the type from a publisher it can see; transient local then replays what it missed
        publisher_known(terminal, "/anomaly")
        echo = terminal.start("ros2 topic echo /anomaly", tmp / "echo.log")
        wait_until(lambda: "\nkind: end" in text(echo), 60, "the replayed event's end",
                   detail=lambda: text(launch)[-2000:] + text(echo)[-2000:])
        status = interrupt(launch)
        interrupt(echo, 30)
        return {"exit": status, "launch": text(launch), "echo": text(echo)}
    finally:
        stop(launch, echo)  # a failed fixture leaves no node behind for the tests after it


def test_replay_launch_detects_the_event_in_a_recorded_bag(replayed):
    kinds = [(d["kind"], d["reason"]) for d in echoed(replayed["echo"]) if d["kind"] != "update"]
    assert kinds == [("start", ""), ("end", "score")], replayed["echo"][-2000:]
    assert replayed["exit"] == 0, replayed["launch"][-3000:]
    assert "[camera_player-" in replayed["launch"]


def test_a_deprecated_argument_name_warns_and_still_sets_its_parameter(replayed):
    log = replayed["launch"]
    assert "launch argument 'fine_in_process' is deprecated" in log and "use 'fine_stage_in_process'" in log
    assert "fine stage in this process" in log  # coarse_node's start-up line: the parameter was set
    assert "[fine_node-" not in log  # and no separate fine_node was started


def test_the_launch_testing_test_passes(terminal, tmp_path):
    """test/nodes/test_edge_launch.py under launch_testing's own runner, in the workspace, as
    `launch_test` (and `colcon test`) runs it."""
    env = f"PYTHONPATH={terminal.workspace / 'src' / 'tcvads_ros' / 'test' / 'support'}:$PYTHONPATH"
    output = terminal.run(f"{env} launch_test src/tcvads_ros/test/nodes/test_edge_launch.py", timeout=240)
    assert re.search(r"Ran 1 test in .*\n\nOK", output) and "test_nodes_exit_cleanly" in output, output[-3000:]


def test_use_fine_stage_false_runs_no_fine_stage_anywhere(terminal, bundle, tmp_path):
    """use_fine_stage:=false wins over fine_stage_in_process:=true: no fine_node is started and
    coarse_node runs without the fine stage."""
    launch = terminal.start(f"ros2 launch tcvads_ros edge.launch.py bundle:={bundle} use_fine_stage:=false "
                            "fine_stage_in_process:=true", tmp_path / "launch.log")
    try:
        wait_until(lambda: "events stored in" in text(launch), 90, "coarse_node to start",
                   detail=lambda: text(launch)[-2000:])
    finally:
        stop(launch)
    # coarse_node's own start-up line says where the fine stage runs (not in this process)
    assert "[coarse_node-1]: process started" in text(launch)
    assert "fine stage in this process" not in text(launch), text(launch)
    assert not re.search(r"\[fine_node-\d+\]", text(launch)), text(launch)


AUDIO = "/audio/audio_stamped"


def diagnostic_values(output: str, name: str) -> dict[str, str]:
    """The key/value pairs of the status called `name` in `ros2 topic echo /diagnostics` output."""
    found = {}
    for status in output.split("- level:")[1:]:
        if f"name: '{name}'" in status or f"name: {name}\n" in status:
            found = dict(re.findall(r"- key: (\S+)\n\s+value: '?([^'\n]*)'?", status))
    return found


@pytest.fixture(scope="module")
def listened(terminal, tmp_path_factory) -> dict:
    """edge.launch.py with audio_topic as documented, a bundle that listens (the redness bundle
    with an audio graph), camera_player playing a video and the WAV beside it on the audio topic
    (through `ros2 run`), `ros2 topic echo /diagnostics --once` until coarse_node has counted
    every chunk, then Ctrl-C."""
    tmp = tmp_path_factory.mktemp("listened")
    bundle = make_redness_bundle(tmp / "bundle", audio=TINY_AUDIO.to_dict()).root
    video = write_red_video(tmp / "street.avi", seconds=4.0, fps=FPS, anomalies=[(1.0, 3.0)])
    write_wav(video.with_suffix(".wav"), 4.0)
    launch = terminal.start(documented("ros2 launch tcvads_ros edge.launch.py bundle:=/data/tcvads/bundle audio_topic:=",
                                       **{"/data/tcvads/bundle": str(bundle)}), tmp / "launch.log")
    out: dict = {}
    echo = None
    try:
        wait_until(lambda: "reading sound (AudioDataStamped)" in text(launch)
                   and text(launch).count("active: taking camera frames") == 2,
                   90, "coarse_node to listen", detail=lambda: text(launch)[-2000:])
        player = terminal.run(documented("ros2 run tcvads_ros camera_player video.mp4 --audio-topic",
                                         **{"video.mp4": str(video)})
                              + " --wait-subscribers 2 --wait-audio-subscribers 1", timeout=90)
        out["player"] = json.loads(player.strip().splitlines()[-1])
        name = "tcvads_ros: /coarse_node"
        publisher_known(terminal, "/diagnostics")
        echo = terminal.start(documented("ros2 topic echo /diagnostics"), tmp / "echo.log")

        def counted() -> str:
            for message in reversed(text(echo).split("\n---")):
                if int(diagnostic_values(message, name).get("audio.chunks", 0)) >= out["player"]["audio_chunks"]:
                    return message
            return ""

        out["echo"] = wait_until(counted, 60, "coarse_node's count of every chunk in `ros2 topic echo /diagnostics`",
                                 step=0.5, detail=lambda: text(echo)[-3000:])
        interrupt(echo, 30)
        out["diagnostics"] = diagnostic_values(out["echo"], name)
        out["exit"] = interrupt(launch)
        out["launch"] = text(launch)
    finally:
        stop(launch, echo)
    return out


def test_edge_launch_with_audio_topic_hears_the_players_sound(listened):
    assert listened["exit"] == 0, listened["launch"][-3000:]
    sent = listened["player"]["audio_chunks"]
    assert sent == 40 and listened["player"]["audio_dropped"] == 0  # 4 s in chunks of 0.1 s
    values = listened["diagnostics"]
    assert values["audio_topic"] == AUDIO and values["audio_info"] == "16000 Hz, 1 channel(s), S16LE"
    assert int(values["audio.chunks"]) == sent and int(values.get("audio.chunks_refused", 0)) == 0
    assert int(values["audio.snippets_heard"]) >= 3
    # what docs/ros2.md shows of coarse_node's log is what it logged (but for the times), and
    # its status's sound in /diagnostics has the keys it had (the values of a run differ)
    shown = DOC.read_text(encoding="utf-8").split("<!-- audio-capture:begin -->", 1)[1].split(
        "<!-- audio-capture:end -->", 1)[0]
    log, echo = blocks_after_text(shown)
    lines = [line for line in log if "[coarse_node" in line]
    assert len(lines) >= 3
    logged = [_timeless(line) for line in listened["launch"].splitlines()]
    for line in lines:
        assert _timeless(line) in logged, line
    pairs = dict(re.findall(r"- key: (\S+)\n\s+value: '?([^'\n]*)'?", "\n".join(echo)))
    assert {"audio_topic", "audio_info", "audio_chunks", "audio.chunks", "audio.snippets_heard"} <= set(pairs)
    assert set(pairs) <= set(values), set(pairs) - set(values)
    assert (pairs["audio_topic"], pairs["audio_info"]) == (values["audio_topic"], values["audio_info"])


def _timeless(line: str) -> str:
    """A log line without its colours, time stamp and the launch's process number."""
    line = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
    return re.sub(r"\[\d+\.\d+\]", "[T]", re.sub(r"-\d+\]", "-N]", line))


def blocks_after_text(markdown: str):
    """The lines of each fenced block of a piece of Markdown."""
    lines, inside = [], False
    for line in markdown.splitlines():
        if line.strip().startswith("```"):
            if inside:
                yield lines
            lines, inside = [], not inside
        elif inside:
            lines.append(line)


def test_every_documented_ros2_command_is_typed(terminal, launched, replayed, plain_workspace, listened):
    """Runs last: the lines the tests above typed cover every ros2 and colcon line of the page."""
    for line in ros2_commands(DOC):
        if any(marker in line for marker in NOT_RUN_HERE):
            continue
        assert any(t == line or _placeholders_replaced(line, t) for t in TYPED), f"not typed by a test: {line}"


def _placeholders_replaced(line: str, typed: str) -> bool:
    """Whether `typed` is the documented `line` with its placeholders replaced (and arguments added)."""
    pattern = re.escape(line)
    for placeholder in ("/data/tcvads/bundle", "/data/patrol_2024-05-01", "video.mp4"):
        pattern = pattern.replace(re.escape(placeholder), r"\S+")
    return re.match(pattern + r"(\s|$)", typed) is not None
