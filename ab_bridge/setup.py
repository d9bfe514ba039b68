from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ab_bridge"

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
    description="The realtime session with an Artificial Brains brain (cloud or embedded): input streaming, spike decoding, rewards, deviations, contract sync and policies.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "spike_source = ab_bridge.spike_source_node:main",
            "brain_session = ab_bridge.brain_session_node:main",
            "spike_decoder = ab_bridge.spike_decoder_node:main",
        ],
    },
)
