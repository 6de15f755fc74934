"""The fenced code blocks of a docs page: the one parser every docs test uses.

tests/test_docs.py runs or checks the blocks, tests/getting_started.py builds
the getting-started page's project from them. Standard library only, because
``nox -s smoke`` imports it in a venv that holds the wheel and nothing else.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")
MARKER = re.compile(r"^\s*<!--\s*test:\s*(?P<kind>\S+)\s*-->\s*$")
SNIPPET_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)--8<--[ \t]*\n(?P<paths>.*?)^[ \t]*--8<--[ \t]*$", re.M | re.S
)
SNIPPET_LINE = re.compile(
    r"""^(?P<indent>[ \t]*)--8<--[ \t]+["'](?P<path>[^"']+)["'][ \t]*$""", re.M
)


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block of a docs page."""

    page: str  # relative to docs/, e.g. "guides/async-client.md"
    line: int  # 1-based line of the block's first code line in the page
    language: str
    kind: str  # the <!-- test: KIND --> marker; "" when there is none
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def slug(self) -> str:
        return re.sub(r"\W+", "_", self.page.removesuffix(".md")) + f"_L{self.line}"


def expand_snippets(text: str) -> str:
    """Replace pymdownx.snippets includes by the files they name (from the root)."""

    def block(match: re.Match[str]) -> str:
        paths = [p.strip() for p in match["paths"].splitlines() if p.strip()]
        return "".join(_included(path, match["indent"]) for path in paths).rstrip("\n")

    def line(match: re.Match[str]) -> str:
        return _included(match["path"], match["indent"]).rstrip("\n")

    return SNIPPET_LINE.sub(line, SNIPPET_BLOCK.sub(block, text))


def _included(path: str, indent: str) -> str:
    content = (ROOT / path).read_text()
    return "".join(
        indent + row if row.strip() else row for row in content.splitlines(True)
    )


def parse_page(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, dedented, with their markers."""
    # Snippets are expanded per block, so line numbers stay the page's.
    lines = page.read_text().splitlines()
    name = page.relative_to(DOCS).as_posix()
    blocks, index = [], 0
    while index < len(lines):
        opener = FENCE_OPEN.match(lines[index])
        if opener is None:
            index += 1
            continue
        indent, fence = len(opener["indent"]), opener["fence"]
        info = opener["info"].strip().lstrip("{").strip()
        language = info.split()[0].lstrip(".") if info else ""
        closer = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closer.match(lines[end]):
            end += 1
        # Fences inside lists and admonitions are indented with their opener.
        body = [
            re.sub(rf"^[ \t]{{0,{indent}}}", "", row) for row in lines[index + 1 : end]
        ]
        above = next((row for row in reversed(lines[:index]) if row.strip()), "")
        marker = MARKER.match(above)
        blocks.append(
            Block(
                name,
                index + 2,
                language,
                marker["kind"] if marker else "",
                expand_snippets("\n".join(body)) + "\n",
            )
        )
        index = end + 1
    return blocks
