"""Repair the CMake files of the ROS 2 PyPI wheels for this interpreter.

The wheels' exported CMake targets name the wheel builder's include folders
(/opt/python/cp311-cp311/...), which do not exist here; CMake then stops with
"Imported target ... includes non-existent path". This rewrites them, under
<venv>/share, to this interpreter's Python include folder and numpy's.
Idempotent: files already rewritten are left as they are.
"""

import pathlib
import re
import sys
import sysconfig

import numpy

BUILDER_PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
BUILDER_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/(?:_core|core)/include"
)


def main(venv: str) -> int:
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    rewritten = 0
    for path in pathlib.Path(venv, "share").rglob("*.cmake"):
        text = path.read_text(errors="surrogateescape")
        fixed = BUILDER_NUMPY_INCLUDE.sub(numpy_include, text)
        fixed = BUILDER_PYTHON_INCLUDE.sub(python_include, fixed)
        if fixed != text:
            path.write_text(fixed, errors="surrogateescape")
            rewritten += 1
    print(f"[setup] fixed builder paths in {rewritten} CMake file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
