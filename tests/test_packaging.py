"""What the package index shows and the wheel holds (issue 32): static checks, no build.

The wheel itself was built and checked with ``twine check --strict`` by hand (its file
list is in the issue's closing note); these keep the inputs true.
"""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_license_file_is_apache_2_and_goes_into_the_wheel() -> None:
    """LICENSE holds the Apache-2.0 text the metadata names, and is a license file."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert PROJECT["project"]["license"] == "Apache-2.0"
    assert PROJECT["project"]["license-files"] == ["LICENSE"]


def test_classifiers_urls_and_typed_marker() -> None:
    """Classifiers name the Python versions and Typing; project URLs are absolute; the
    package ships py.typed (PEP 561)."""
    classifiers = PROJECT["project"]["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.10" in classifiers
    assert all(u.startswith("https://") for u in PROJECT["project"]["urls"].values())
    assert (ROOT / "reconciler" / "py.typed").is_file()
    assert "py.typed" in PROJECT["tool"]["setuptools"]["package-data"]["reconciler"]


def test_the_long_description_has_only_absolute_links() -> None:
    """README is the index page's long description: a relative link would break there."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+)\)", readme)
    assert links and [u for u in links if not u.startswith("https://")] == []


def test_readme_stays_short() -> None:
    """README stays at most ~20 KB: the rest lives under docs/."""
    assert len((ROOT / "README.md").read_bytes()) <= 20_500
