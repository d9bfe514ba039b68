from glob import glob

from setuptools import find_packages, setup

PACKAGE = "pilot_hw"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml", "README.md"]),
        ("share/" + PACKAGE + "/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="brainstem maintainers",
    maintainer_email="maintainers@brainstem.dev",
    description="Raspberry Pi hardware drivers on pigpio, safe on every exit, and a virtual Pi speaking the pigpio daemon protocol.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "pilot = pilot_hw.pilot_node:main",
            "virtual_pi = pilot_hw.virtual_pi:main",
        ],
    },
)
