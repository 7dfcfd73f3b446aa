# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Python examples of README.md and python/README.md run as written."""

import os
import re

import pytest

from conftest import TOP


def blocks(path):
    with open(path) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


@pytest.mark.parametrize("path,index", [("README.md", 0), ("python/README.md", 0),
                                        ("python/README.md", 1), ("python/README.md", 2)])
def test_readme_example_runs(dev, path, index, capsys):
    code = blocks(os.path.join(TOP, path))[index]
    assert len(code.strip().splitlines()) <= 12  # "a 10-line example", give or take imports
    names = set(re.findall(r'"([A-Za-z0-9_.-]+)"', code)) & {"cam0", "frames"}
    try:
        exec(compile(code, f"{path} example {index}", "exec"), {"__name__": "readme"})
    finally:
        for n in names:
            if n in dev.list():
                dev.destroy(n)
    assert capsys.readouterr().out or "print(" not in code
