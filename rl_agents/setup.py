from glob import glob

from setuptools import find_packages, setup

PACKAGE = "rl_agents"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="brainstem maintainers",
    maintainer_email="maintainers@brainstem.dev",
    description="Reinforcement-learning agents in the Brain/Muscle/Objective style, brain and muscles over ZeroMQ, channel-described environments.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "muscle = rl_agents.muscle_node:main",
            "brain = rl_agents.brain_node:main",
            "experiment = rl_agents.experiment:main",
        ],
    },
)
