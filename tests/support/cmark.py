"""Render markdown as GitHub does (Debian's ``cmark-gfm``) and read back what a reviewer sees.

The test setup installs ``cmark-gfm`` with apt-get when it is missing (as root); with
``CI=true`` a missing renderer fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from tests.support.apt import apt_install

EXTENSIONS = ("table", "autolink", "strikethrough", "tagfilter", "tasklist")
"""GitHub's extensions of CommonMark."""


def cmark_binary() -> str:
    """The path of cmark-gfm, installing the Debian package when missing (as root, or
    through passwordless sudo as on GitHub's runners)."""
    found, reason = apt_install("cmark-gfm", "cmark-gfm")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def to_html(markdown: str, binary: str) -> str:
    """GitHub-flavoured HTML of ``markdown`` (raw HTML kept, as GitHub's sanitizer then
    filters it; ``tagfilter`` as on github.com)."""
    args = [binary, "--unsafe", "--to", "html"]
    for ext in EXTENSIONS:
        args += ["-e", ext]
    done = subprocess.run(args, input=markdown, capture_output=True, text=True, check=True)
    return done.stdout


@dataclass
class Page:
    """What the rendered HTML holds, as a reviewer's browser would show it."""

    tags: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    comments: int = 0
    text: list[str] = field(default_factory=list)
    """Text outside code: where GitHub makes mentions and references."""
    code: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    """Table rows, each a list of cell texts."""
    items: list[str] = field(default_factory=list)
    """List items' text."""
    paragraphs: list[str] = field(default_factory=list)

    @property
    def all_text(self) -> str:
        return "".join(self.text + self.code)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.stack: list[str] = []
        self.cell: list[str] | None = None
        self.row: list[str] | None = None
        self.item: list[str] | None = None
        self.para: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.add(tag)
        if tag in ("br", "img", "hr", "input"):
            if tag == "img":
                self.page.links.extend(v or "" for k, v in attrs if k == "src")
            return
        self.stack.append(tag)
        if tag == "a":
            self.page.links.extend(v or "" for k, v in attrs if k == "href")
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "li":
            self.item = []
        elif tag == "p":
            self.para = []

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.page.rows.append(self.row)
            self.row = None
        elif tag == "li" and self.item is not None:
            self.page.items.append("".join(self.item))
            self.item = None
        elif tag == "p" and self.para is not None:
            self.page.paragraphs.append("".join(self.para))
            self.para = None

    def handle_data(self, data: str) -> None:
        in_code = "code" in self.stack or "pre" in self.stack
        (self.page.code if in_code else self.page.text).append(data)
        for part in (self.cell, self.item, self.para):
            if part is not None:
                part.append(data)

    def handle_comment(self, data: str) -> None:
        self.page.comments += 1


def read(html: str) -> Page:
    """The page a reviewer sees for ``html``."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page
