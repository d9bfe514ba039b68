from setuptools import find_packages, setup

PACKAGE = "detector_node"

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
    description="An edge object detector compatible with the Learning Loop detector API (REST + Socket.IO), with outbox uploads, model versions and ROS topics.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "detector = detector_node.detector_node:main",
            "detector_service = detector_node.host:main",
        ],
    },
)
