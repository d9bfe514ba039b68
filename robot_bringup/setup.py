from glob import glob

from setuptools import find_packages, setup

PACKAGE = "robot_bringup"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", sorted(glob("launch/*.launch.py"))),
        ("share/" + PACKAGE + "/config", sorted(glob("config/*.yaml"))),
        ("share/" + PACKAGE + "/rviz", sorted(glob("rviz/*.rviz"))),
        ("share/" + PACKAGE + "/urdf", sorted(glob("urdf/*.urdf"))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="brainstem maintainers",
    maintainer_email="maintainers@brainstem.dev",
    description="Launch files, parameter files, rviz configuration, the simulated robot and the one-command demo of brainstem.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "sim_arm = robot_bringup.sim_arm_node:main",
            "reward_from_detections = robot_bringup.reward_from_detections_node:main",
            "spike_raster = robot_bringup.spike_raster_node:main",
            "demo = robot_bringup.demo:main",
        ],
    },
)
