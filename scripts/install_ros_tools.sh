#!/usr/bin/env bash
# Install the ROS 2 tools that are not on PyPI into .venv, from their upstream
# sources: launch (+ xml, yaml, testing, pytest), launch_ros (+ testing_ros,
# ros2launch), ros2cli and its verbs, rosidl_runtime_py, and the
# composition_interfaces messages launch_ros imports. Called by setup.sh on a
# pip-only machine (no ROS distro sourced).
#
# Where the sources come from is BRAINSTEM_ROS2_TOOLS:
#   a folder       laid out like shared/ros2-upstream (launch/, launch_ros/,
#                  ros2cli/, rosidl_runtime_py/, rcl_interfaces/); CI sets
#                  ../shared/ros2-upstream. Default: that folder, if it is there.
#   upstream       the upstream repositories by URL at the commits below
#                  (needs git and internet).
#   none           install nothing: `ros2 launch` is then missing and the launch
#                  tests skip, saying why.
# Usage: install_ros_tools.sh VENV
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$1
say() { printf '[setup] %s\n' "$*"; }

# The upstream commits (the rolling branch of late 2024, closest to Kilted).
declare -A COMMIT=(
    [launch]=02595bafc7891d4d287667b6aa9161edf738e9f3
    [launch_ros]=f9ab9371824d470bca47602bc7d277eb2217c90d
    [ros2cli]=e20d2c664fc2981b0b80ebed534e5becc6fdbf34
    [rosidl_runtime_py]=3327b1dc488af514017c5446ffff12d102bbe94a
    [rcl_interfaces]=f6b3741d921ef5414125091b2ccc74b863be3c24
)
# Python packages in install order: repository/subfolder.
PYPKGS=(
    rosidl_runtime_py/.
    launch/launch launch/launch_xml launch/launch_yaml launch/launch_testing launch/launch_pytest
    launch_ros/launch_ros launch_ros/launch_testing_ros launch_ros/ros2launch
    ros2cli/ros2cli ros2cli/ros2pkg ros2cli/ros2topic ros2cli/ros2node ros2cli/ros2param
    ros2cli/ros2service ros2cli/ros2interface ros2cli/ros2run
)

source_spec=${BRAINSTEM_ROS2_TOOLS:-}
if [ -z "$source_spec" ]; then
    if [ -d "$ROOT/../shared/ros2-upstream" ]; then
        source_spec="$ROOT/../shared/ros2-upstream"
    else
        source_spec=none
    fi
fi
marker="$VENV/.brainstem-ros2-tools"
if [ "$source_spec" = none ]; then
    say "ROS 2 tools (ros2 launch, ros2 topic, launch tests): not installed; set" \
        "BRAINSTEM_ROS2_TOOLS to a source folder or 'upstream' to get them"
    rm -f "$marker"
    exit 0
fi

if [ "$source_spec" = upstream ]; then
    want="upstream $(for r in "${!COMMIT[@]}"; do echo "$r=${COMMIT[$r]}"; done | sort | tr '\n' ' ')"
else
    [ -d "$source_spec/launch" ] || { say "BRAINSTEM_ROS2_TOOLS=$source_spec has no launch/ folder"; exit 1; }
    source_spec=$(cd "$source_spec" && pwd)
    want="folder $(cat "$source_spec/COMMITS" 2>/dev/null | tr '\n' ' ')"
fi
want="$want $(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
if [ "$(cat "$marker" 2>/dev/null)" = "$want" ] \
   && [ -x "$VENV/bin/ros2" ] && [ -f "$VENV/ros2_tools/install/setup.bash" ]; then
    say "ROS 2 tools up to date"
    exit 0
fi

say "installing the ROS 2 tools (launch, ros2cli, ...) from $source_spec (about 40 s)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "$source_spec" = upstream ]; then
    for repo in "${!COMMIT[@]}"; do
        git -c advice.detachedHead=false clone -q "https://github.com/ros2/$repo" "$work/$repo"
        git -C "$work/$repo" checkout -q "${COMMIT[$repo]}"
    done
else
    # pip builds in the source folder (build/, *.egg-info): work on a copy, the
    # source may be read-only.
    cp -r "$source_spec"/. "$work"/
    chmod -R u+w "$work"
fi

pip_install() { "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@"; }
for pkg in "${PYPKGS[@]}"; do
    pip_install --no-deps --no-build-isolation "$work/$pkg"
done

# composition_interfaces is an ament_cmake message package: build it into
# .venv/ros2_tools (scripts/env.sh sources it before the workspace).
rm -rf "$VENV/ros2_tools"
mkdir -p "$VENV/ros2_tools"
(
    cd "$VENV/ros2_tools"
    AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" colcon build \
        --base-paths "$work/rcl_interfaces/composition_interfaces" \
        --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python" \
        --event-handlers console_cohesion- summary- status- >/dev/null
)
echo "$want" > "$marker"
say "ROS 2 tools installed: $("$VENV/bin/ros2" --help >/dev/null 2>&1 && echo 'ros2 works' || echo 'ros2 does NOT start')"
