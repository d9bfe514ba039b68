from setuptools import find_packages, setup

PACKAGE = "embedded_brain"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["graphs/*.yaml", "designs/*.json"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="brainstem maintainers",
    maintainer_email="maintainers@brainstem.dev",
    description="A local spiking brain that learns (R-STDP) and serves the Artificial Brains "
                "realtime protocol (SDK 0.1) and the Prima-Lux device API (SDK 0.4).",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "brain_server = embedded_brain.brain_server_node:main",
        ],
    },
)
