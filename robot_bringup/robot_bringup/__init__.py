"""Launch files, parameter files, rviz configuration, the simulated robot and the one-command demo of brainstem."""
