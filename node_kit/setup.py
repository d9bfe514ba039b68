from setuptools import find_packages, setup

PACKAGE = "node_kit"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="brainstem maintainers",
    maintainer_email="maintainers@brainstem.dev",
    description=("What brainstem's packages share: process lifecycle, parameters, structured "
                 "config, asyncio loop host, diagnostics, checks, socketio overrides."),
    license="Apache-2.0",
    tests_require=["pytest"],
)
