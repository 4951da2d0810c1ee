"""One escaping function per output kind: markdown text, markdown code, terminal, HTML.

Text that comes from the registry (run names, params, metric names, tags, descriptions,
lineage, signature columns) or from a file name is data: wherever it is shown it must
read literally and must not add structure (a line, a link, a mention, a table row, a
workflow command). Every renderer escapes through this module, never with its own
``.replace`` chain. The shared first step, ``visible``, removes bidi controls and spells
control characters out (``\\n``, ``\\x1b``, ``\\u2028``), so a value is always one line.
"""

from __future__ import annotations

import html as _html
import re
import string
import unicodedata
from urllib.parse import quote

LIMIT = 200
"""Characters a registry value keeps in the markdown plan before the ellipsis."""
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional controls: they reorder what a reviewer reads, so they are removed."""
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
ZWSP = "&#8203;"
"""A zero-width space after ``@`` and ``#`` keeps GitHub from making mentions and issue
references out of text (its filters run on the rendered text, after escapes are gone)."""
PUNCTUATION = frozenset(string.punctuation)
URL_SAFE = "/:#?&=%~-._+,;@!$*"
"""Characters a link target keeps as they are; the rest is percent-encoded."""
WORKFLOW_V1 = "##["
"""GitHub's old workflow-command prefix, honoured anywhere in a line."""


def _control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _spell(char: str) -> str:
    if char in NAMED:
        return NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` on one line: bidi controls removed, control characters (``\\r``,
    ``\\n``, U+0085, U+2028/2029, ESC, ...) spelt out as escapes."""
    return "".join("" if c in BIDI else _spell(c) if _control(c) else c for c in str(text))


def shorten(text: str, limit: int | None = LIMIT) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


def terminal(text: str, limit: int | None = None) -> str:
    """A value for a terminal or CI log line: one line, and it cannot start a GitHub
    workflow command (``##[`` is defused; ``::`` can only start a line, and a value
    never does)."""
    return shorten(visible(text), limit).replace(WORKFLOW_V1, "#\\u0023[")


_LEADING_COMMAND = re.compile(r"^(\s*):(?=:)", re.MULTILINE)


def command_safe(text: str) -> str:
    """Printed output with no line a GitHub runner would execute: the last guard in
    front of stdout/stderr (values are escaped with ``terminal`` before this). A bare
    ``\\r`` ends a line for the runner, so it is spelt out too."""
    text = text.replace("\r\n", "\n").replace("\r", "\\r").replace(WORKFLOW_V1, "#\\u0023[")
    return _LEADING_COMMAND.sub(r"\1\\u003a", text)


def markdown_text(text: str, limit: int | None = LIMIT) -> str:
    """Registry text for markdown prose or a table cell: it renders literally.

    Every ASCII punctuation character is backslash-escaped (``<>&``, ``*_[]()!~|``,
    backticks, ``:`` and ``.`` so nothing autolinks), ``@`` and ``#`` get a zero-width
    space so GitHub makes no mention or reference of them.
    """
    out = []
    for char in shorten(visible(text), limit):
        if char in PUNCTUATION:
            out.append("\\" + char)
            if char in "@#":
                out.append(ZWSP)
        else:
            out.append(char)
    return "".join(out)


def markdown_code(text: str, limit: int | None = LIMIT, table: bool = True) -> str:
    """Registry text as a code span: its fence is longer than any backtick run inside,
    and in a ``table`` cell ``|`` is escaped (GFM splits cells before code spans)."""
    body = shorten(visible(text), limit)
    if body == "":
        return '""'
    if table:
        body = body.replace("|", "\\|")
    runs = [len(run) for run in re.findall(r"`+", body)]
    fence = "`" * (max(runs, default=0) + 1)
    if body.startswith(("`", " ")) or body.endswith(("`", " ")):
        body = f" {body} "
    return f"{fence}{body}{fence}"


def markdown_html(text: str, limit: int | None = LIMIT) -> str:
    """Registry text inside a raw HTML part of the markdown (``<summary>``): HTML-escaped,
    and no mention or reference for GitHub to make."""
    body = shorten(visible(text), limit).replace("@", "@\u200b").replace("#", "#\u200b")
    return html(body)


def html(text: str) -> str:
    """Text for an HTML page: one line, ``<>&"'`` as entities."""
    return _html.escape(visible(text), quote=True)


def markdown_url(url: str) -> str:
    """A link target that cannot end the markdown link: anything outside a URL's usual
    characters (spaces, parentheses, ``<>``, quotes, controls) is percent-encoded."""
    return quote(url, safe=URL_SAFE)


def mermaid_label(text: str, limit: int = 60) -> str:
    """A label inside a Mermaid string: letters, digits and ``._-/:`` only."""
    return re.sub(r"[^\w.\-/: ]", "_", shorten(visible(text), limit))
