#!/usr/bin/env bash
# One idempotent setup for brainstem, run by `make setup` (and by `make run`,
# `make test`).
#
# - ROS 2 already sourced (ROS_DISTRO set, e.g. Jazzy on a Raspberry Pi):
#   only `colcon build` (install the Python dependencies with rosdep, see
#   README.md).
# - Otherwise (x86_64): create .venv, install ROS 2 Kilted from the PyPI wheels
#   and the Python dependencies pinned in constraints.txt, repair the wheels'
#   CMake files, install the ROS tools that are not on PyPI (launch, ros2cli:
#   scripts/install_ros_tools.sh, BRAINSTEM_ROS2_TOOLS), then `colcon build`.
# Each step is skipped when its inputs did not change since it last succeeded.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PACKAGES="ab_interfaces node_kit embedded_brain ab_bridge detector_node pilot_hw rl_agents robot_bringup"
VENV="$ROOT/.venv"

say() { printf '[setup] %s\n' "$*"; }

# One setup at a time per checkout (parallel `make test` runs share .venv and build/).
exec 9>"$ROOT/.setup.lock"
flock 9

digest() { # digest PATH... -> one sha256 over the names and contents of the files
    find "$@" -type f -not -path '*/__pycache__/*' -not -path '*/test/*' -not -name '*.pyc' \
        "${DIGEST_EXCLUDE[@]}" -print0 2>/dev/null | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}
DIGEST_EXCLUDE=()

if [ -z "${ROS_DISTRO:-}" ]; then
    arch=$(uname -m)
    if [ "$arch" != "x86_64" ]; then
        say "no ROS 2 sourced and the PyPI ROS wheels are x86_64 only (this is $arch)."
        say "install ROS 2 (apt or RoboStack), source it, and run this again."
        exit 1
    fi
    PY=${PYTHON:-}
    if [ -z "$PY" ]; then
        for candidate in python3.11 python3.12 python3; do
            if command -v "$candidate" >/dev/null \
               && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))'; then
                PY=$candidate; break
            fi
        done
    fi
    [ -n "$PY" ] || { say "Python 3.11 or 3.12 is needed for the ROS 2 wheels"; exit 1; }

    if [ ! -x "$VENV/bin/python" ]; then
        say "creating $VENV with $($PY --version)"
        "$PY" -m venv "$VENV"
    fi
    touch "$VENV/COLCON_IGNORE"  # a colcon build from a parent workspace must not crawl it
    want=$(digest requirements.txt constraints.txt scripts/setup.sh scripts/fix_ros_wheels.py)
    if [ "$(cat "$VENV/.brainstem-deps" 2>/dev/null)" != "$want" ]; then
        say "installing ROS 2 Kilted wheels and Python dependencies (about a minute)"
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
        "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
            -r requirements.txt -c constraints.txt
        "$VENV/bin/python" scripts/fix_ros_wheels.py "$VENV"
        echo "$want" > "$VENV/.brainstem-deps"
    else
        say "dependencies up to date"
    fi
    # shellcheck disable=SC1091
    . "$VENV/bin/activate"
    export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
    # ros2 launch, ros2 topic, launch_pytest: not on PyPI, from their sources.
    scripts/install_ros_tools.sh "$VENV"
    if [ -f "$VENV/ros2_tools/install/local_setup.bash" ]; then
        case $- in *u*) set +u; . "$VENV/ros2_tools/install/local_setup.bash"; set -u ;;
                   *) . "$VENV/ros2_tools/install/local_setup.bash" ;; esac
    fi
fi

# --symlink-install links each package's Python modules, so editing them needs
# no rebuild; everything else (package.xml, setup.py, msg/, launch/, config/) does.
for pkg in $PACKAGES; do DIGEST_EXCLUDE+=(-not -path "$pkg/$pkg/*"); done
want=$(digest $PACKAGES)
if [ "$(cat build/.brainstem-build 2>/dev/null)" != "$want" ] || [ ! -f install/setup.bash ]; then
    say "colcon build"
    # A file removed from a package leaves a dangling link behind --symlink-install,
    # which stops the next build: drop those links first.
    [ -d build ] && find build install -xtype l -delete 2>/dev/null || true
    colcon build --symlink-install --base-paths $PACKAGES \
        --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$(command -v python3)" \
        --event-handlers console_cohesion- summary+ status-
    mkdir -p build && echo "$want" > build/.brainstem-build
else
    say "workspace build up to date"
fi
