"""Debian packages the tests need (cmark-gfm, chromium), installed once per machine.

pytest-xdist runs several workers, and two ``apt-get`` at once fail on dpkg's lock, so
every install here runs under one file lock; the second worker then finds the binary.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "registry-reconciler-apt.lock"


def apt_install(binary: str, package: str, timeout: float = 900) -> tuple[str | None, str]:
    """The path of ``binary``, installing ``package`` when missing; (None, why) if not."""
    if found := shutil.which(binary):
        return found, ""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, f"{binary} is not installed and cannot be installed (not root or no apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    why = ""
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if found := shutil.which(binary):
            return found, ""
        for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
            done = subprocess.run(
                args, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
            if done.returncode:
                why = f"{' '.join(args)} failed: {done.stderr.strip()[-300:]}"
                break
    return shutil.which(binary), why
