"""docs/extending.md's worked example (a new source) runs exactly as written.

The page's source and test code blocks are written into a scratch package
``airlock.sources.http`` is importable from, and the page's tests run in a
separate pytest process: the documentation cannot drift from the code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _block(page: str, marker: str) -> str:
    m = re.search(rf"<!-- extending:{marker} -->\s*```python\n(.*?)```", page, re.S)
    assert m, f"docs/extending.md has no {marker!r} code block"
    return m.group(1)


def test_the_worked_example_source_passes_its_own_tests(tmp_path):
    page = (REPO / "docs" / "extending.md").read_text()
    # a namespace overlay: airlock.sources.http lives in tmp_path, the rest in include/
    pkg = tmp_path / "overlay" / "airlock" / "sources"
    pkg.mkdir(parents=True)
    (pkg / "http.py").write_text(_block(page, "source"))
    (pkg / "__init__.py").write_text(
        "import pkgutil\n__path__ = pkgutil.extend_path(__path__, __name__)\n"
        f"exec(open({str(REPO / 'include/airlock/sources/__init__.py')!r}).read())\n"
    )
    (pkg.parent / "__init__.py").write_text(
        "import pkgutil\n__path__ = pkgutil.extend_path(__path__, __name__)\n"
        f"exec(open({str(REPO / 'include/airlock/__init__.py')!r}).read())\n"
    )
    test = tmp_path / "test_source_http.py"
    test.write_text(_block(page, "test"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "overlay"), str(REPO / "include")])}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(test)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "4 passed" in out.stdout
