"""Without the shared media folder the suite still collects, and a test that needs the media fails
with conftest's one sentence (collection used to stop on a raw FileNotFoundError)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def pytest_without_media(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ADAIN_TEST_MEDIA": str(tmp_path / "no-media"), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)


def test_without_the_media_every_test_module_still_collects(tmp_path):
    proc = pytest_without_media(tmp_path, "--collect-only", "tests")
    assert proc.returncode == 0 and " collected" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "FileNotFoundError" not in proc.stdout + proc.stderr


def test_a_test_that_needs_the_media_fails_with_one_sentence_naming_it(tmp_path):
    proc = pytest_without_media(tmp_path, "-x", "-k", "runs_as_written", "tests/test_readme.py")
    assert proc.returncode == 1, proc.stdout[-3000:]
    missing = tmp_path / "no-media" / "content"
    assert f"test media not found: {missing} is missing" in proc.stdout and "ADAIN_TEST_MEDIA=PATH" in proc.stdout
    assert "Traceback" not in proc.stdout
