"""Every citation resolves inside the repository.

A reader who follows a link in a Markdown page, or a path that a docstring or comment cites as the
source of a fact, must land on a file of this repository: not on a file that only existed on the
machine where it was written. Checked: relative links in every Markdown file, and paths of the
form `dir/.../name.ext` in those files and in the docstrings and comments of the Python sources.
No citation may name a path that exists only on some machine (a home or scratch folder).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("conformance", "suites", "reference_engine", "tests", "examples", "benchmarks")
SKIPPED_DIRS = {"build", "dist", "node_modules"}

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
CITED_PATH = re.compile(
    r"(?<![\w./-])((?:\.{1,2}/)*[\w.-]+(?:/[\w.-]+)+\.(?:py|md|json|toml|html|css|txt|ini|cfg|ya?ml))"
    r"(?![\w/-])"
)
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*$")
OWNED_BY_OTHERS = re.compile(r"\w's $")
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|tmp|home|root|Users|mnt|opt|private|var)/\S+")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def _walk(pattern: str, under: Path = ROOT) -> list[Path]:
    def kept(path: Path) -> bool:
        parts = path.relative_to(ROOT).parts[:-1]
        return not any(
            p.startswith(".") or p in SKIPPED_DIRS or p.endswith(".egg-info") for p in parts
        )

    return sorted(p for p in under.rglob(pattern) if kept(p))


MARKDOWN = _walk("*.md")
SOURCES = [p for folder in SOURCE_DIRS for p in _walk("*.py", ROOT / folder)]


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _resolves(target: str, base: Path) -> bool:
    """The target names an existing file or folder of the repository, relative to `base` (the
    citing file's folder) or to the repository root."""
    for start in (base, ROOT):
        candidate = (start / target).resolve()
        if candidate.exists() and candidate.is_relative_to(ROOT):
            return True
    return False


def _markdown_links(text: str) -> Iterator[str]:
    prose = FENCE.sub("", text)
    prose = re.sub(r"`[^`\n]*`", "", prose)  # inline code is not a link
    for pattern in (LINK, LINK_DEFINITION):
        for match in pattern.finditer(prose):
            target = match.group(1)
            if URL.match(target) or target.startswith(("#", "mailto:")):
                continue
            target = target.split("#", 1)[0].split("?", 1)[0]
            if target:
                yield target


def _commentary(path: Path) -> str:
    """The docstrings and comments of a Python file, without its code."""
    source = path.read_text(encoding="utf-8")
    parts = [
        node.value.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            parts.append(token.string)
    return "\n".join(parts)


def _cited_paths(text: str) -> Iterator[str]:
    """Paths a text cites, except placeholders (`DIR/index.html`) and another project's files,
    which are cited with their owner (`PyTorch's tools/autograd/derivatives.yaml`) or a URL."""
    text = URL.sub("", text)
    for match in CITED_PATH.finditer(text):
        path = match.group(1)
        if any(PLACEHOLDER.match(part) for part in path.split("/")):
            continue
        if OWNED_BY_OTHERS.search(text[: match.start()]):
            continue
        yield path


def test_there_is_something_to_check() -> None:
    names = {_name(p) for p in MARKDOWN}
    assert {"README.md", "docs/bug-classes.md", "docs/pytorch-semantics.md"} <= names
    assert len(SOURCES) > 20


@pytest.mark.parametrize("page", MARKDOWN, ids=_name)
def test_markdown_links_resolve_in_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = [t for t in _markdown_links(text) if not _resolves(t, page.parent)]
    assert not broken, f"{_name(page)}: links to nothing in the repository: {broken}"


@pytest.mark.parametrize("page", MARKDOWN, ids=_name)
def test_paths_cited_in_markdown_resolve_in_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = sorted({p for p in _cited_paths(text) if not _resolves(p, page.parent)})
    assert not broken, f"{_name(page)}: cites paths not in the repository: {broken}"
    machine = MACHINE_PATH.findall(text)
    assert not machine, f"{_name(page)}: cites paths on some machine: {machine}"


@pytest.mark.parametrize("module", SOURCES, ids=_name)
def test_paths_cited_in_docstrings_and_comments_resolve(module: Path) -> None:
    text = _commentary(module)
    broken = sorted({p for p in _cited_paths(text) if not _resolves(p, module.parent)})
    assert not broken, f"{_name(module)}: cites paths not in the repository: {broken}"
    machine = MACHINE_PATH.findall(text)
    assert not machine, f"{_name(module)}: cites paths on some machine: {machine}"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("see [the notes](../elsewhere/notes.md#4)", ["../elsewhere/notes.md"]),
        ("[ok](https://example.org/a.md) [anchor](#top) `[code](x.md)`", []),
        ("[ref]: docs/missing.md", ["docs/missing.md"]),
        ("```\n[in a fence](nowhere.md)\n```\n", []),
    ],
)
def test_links_are_found_where_a_reader_would_follow_them(text: str, found: list[str]) -> None:
    assert list(_markdown_links(text)) == found


def test_cited_paths_are_found_and_checked() -> None:
    text = "as elsewhere/notes/bug-classes.md says (tests/x.py::test_y, https://h.org/a/b.py)"
    assert list(_cited_paths(text)) == ["elsewhere/notes/bug-classes.md", "tests/x.py"]
    others = "write DIR/index.html; PyTorch's tools/autograd/derivatives.yaml; tools/a/b.yaml"
    assert list(_cited_paths(others)) == ["tools/a/b.yaml"]
    assert not _resolves("elsewhere/notes/bug-classes.md", ROOT / "docs")
    assert _resolves("pytorch-semantics.md", ROOT / "docs")
    assert not _resolves("../../outside.md", ROOT / "docs")
    # Built from parts, so that this file does not itself cite a machine path.
    home, scratch = "/" + "home/me/x.py", "/" + "var/y"
    assert MACHINE_PATH.findall(f"written at {home} or {scratch}") == [home, scratch]
