# Source me: the environment brainstem's commands run in (the venv when there
# is one, the ROS underlay, this workspace's install/ overlay).
_bs_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${ROS_DISTRO:-}" ] && [ -x "$_bs_root/.venv/bin/python" ]; then
    # shellcheck disable=SC1091
    . "$_bs_root/.venv/bin/activate"
    export AMENT_PREFIX_PATH="$_bs_root/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
    export CMAKE_PREFIX_PATH="$_bs_root/.venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
fi
# colcon's setup scripts read unset variables; relax nounset while sourcing.
case $- in *u*) _bs_nounset=1; set +u ;; *) _bs_nounset= ;; esac
# The ROS tools setup built from source (composition_interfaces), when there.
if [ -z "${ROS_DISTRO:-}" ] && [ -f "$_bs_root/.venv/ros2_tools/install/local_setup.bash" ]; then
    # shellcheck disable=SC1091
    . "$_bs_root/.venv/ros2_tools/install/local_setup.bash"
fi
# shellcheck disable=SC1091
. "$_bs_root/install/setup.bash"
[ -n "$_bs_nounset" ] && set -u
# Keep DDS discovery on this machine unless the user chose otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
unset _bs_root _bs_nounset
