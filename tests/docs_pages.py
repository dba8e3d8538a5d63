"""The documentation as the tests read it: ``README.md`` (the front door) and the manual's pages
under ``docs/``. The tests that hold the docs to the code read them through here, so a passage
moved from one page to another is still checked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"

_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")


@dataclass(frozen=True)
class Page:
    """One Markdown file of the documentation."""

    path: Path
    text: str

    @property
    def name(self) -> str:
        """The path from the repository root (``README.md``, ``docs/policies.md``)."""
        return self.path.relative_to(REPO).as_posix()

    def headings(self) -> list[tuple[int, str, int]]:
        """The page's headings outside code blocks: (level, title, line index)."""
        found = []
        fenced = False
        for index, line in enumerate(self.text.splitlines()):
            if _FENCE.match(line):
                fenced = not fenced
                continue
            heading = None if fenced else _HEADING.match(line)
            if heading:
                found.append((len(heading.group(1)), heading.group(2), index))
        return found

    def anchors(self) -> set[str]:
        """The ids of the page's headings, as GitHub and MkDocs make them (lower case,
        punctuation dropped, spaces as hyphens)."""
        return {slug(title) for _, title, _ in self.headings()}

    def prose(self) -> str:
        """The text without fenced code blocks and inline code (what a reader sees as prose)."""
        text = re.sub(r"(?ms)^```.*?^```", "", self.text)
        return re.sub(r"`[^`\n]*`", "", text)


def slug(title: str) -> str:
    """A heading's anchor."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def pages() -> list[Page]:
    """The README first, then every page of the manual."""
    paths = [README, *sorted(DOCS.glob("*.md"))]
    return [Page(path, path.read_text(encoding="utf-8")) for path in paths]


def page(name: str) -> Page:
    """One page by its path from the repository root, e.g. ``docs/policies.md``."""
    path = REPO / name
    return Page(path, path.read_text(encoding="utf-8"))


def section(title: str) -> str:
    """The text under the one heading named ``title`` in the README or the manual (``# title``
    or ``## title``, any level), up to the next heading of the same or a higher level."""
    found = []
    for doc in pages():
        lines = doc.text.splitlines()
        headings = doc.headings()
        for i, (level, name, index) in enumerate(headings):
            if name != title:
                continue
            end = next((at for lv, _, at in headings[i + 1 :] if lv <= level), len(lines))
            found.append("\n".join(lines[index + 1 : end]) + "\n")
    assert len(found) == 1, f"{len(found)} sections are headed {title!r}"
    return found[0]


def fenced_blocks(language: str) -> list[str]:
    """Every ``language`` code block of the README and the manual, in page order."""
    return [
        block
        for doc in pages()
        for block in re.findall(rf"```{re.escape(language)}\n(.*?)```", doc.text, re.S)
    ]
