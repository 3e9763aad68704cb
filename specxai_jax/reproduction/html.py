"""Markdown → one self-contained HTML page, for the subset of markdown our reports use.

Handles headings, paragraphs, ``> `` notes, ``- `` lists, pipe tables, fenced code blocks (shown folded
as "configuration") and image lines ``![title](path)``, whose PNG is embedded as base64 so the page
needs no other file. Inline: `code`, **bold**. Everything else is escaped text.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Sequence

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.8em 0;font-size:0.85em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
blockquote{border-left:4px solid #e0a000;margin:0.8em 0;padding:0.2em 1em;background:#fffbe8}
pre{background:#f6f6f6;padding:0.8em;overflow-x:auto;font-size:0.8em}code{background:#f3f3f3;padding:0 3px}
figure{margin:1em 0}figcaption{font-size:0.85em;color:#555}"""
IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<path>[^)]+)\)$")


def inline(text: str) -> str:
    """Escape ``text`` and render `code` and **bold**."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def within(path: Path, roots: Sequence[Path]) -> bool:
    """True if ``path`` (links followed) is a file inside one of the directories ``roots``."""
    try:
        resolved = path.resolve()
        return path.is_file() and any(resolved.is_relative_to(Path(root).resolve()) for root in roots)
    except (OSError, ValueError):
        return False


def embedded_image(alt: str, path: Path, roots: Sequence[Path]) -> str:
    """A <figure> holding the PNG at ``path`` as a data URI; a file that is missing or lies outside every
    directory of ``roots`` gives a visible note instead."""
    if not within(path, roots):
        return f"<p><em>figure left out (not a file inside the runs): {html.escape(str(path))}</em></p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{inline(alt)}</figcaption></figure>")


def table(lines: list[str]) -> str:
    """A pipe table (header, separator, rows) as HTML."""
    cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    head = "".join(f"<th>{inline(c)}</th>" for c in cells[0])
    body = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in cells[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(markdown: str, base: Path, title: str, roots: Sequence[Path]) -> str:
    """The page for ``markdown``; image paths are resolved against the directory ``base``, and only files
    inside the directories ``roots`` (the run folders) are embedded, wherever the image line appears."""
    out, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
            code = html.escape("\n".join(lines[i + 1:end]))
            out.append(f"<details><summary>configuration</summary><pre>{code}</pre></details>")
            i = end + 1
            continue
        if line.startswith("|"):
            end = next((j for j in range(i, len(lines)) if not lines[j].startswith("|")), len(lines))
            out.append(table(lines[i:end]))
            i = end
            continue
        if line.startswith("- "):
            end = next((j for j in range(i, len(lines)) if not lines[j].startswith("- ")), len(lines))
            out.append("<ul>" + "".join(f"<li>{inline(item[2:])}</li>" for item in lines[i:end]) + "</ul>")
            i = end
            continue
        heading = re.match(r"^(#{1,6}) (.*)$", line)
        image = IMAGE.match(line.strip())
        if heading:
            level = len(heading.group(1))
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif image:
            out.append(embedded_image(image.group("alt"), base / image.group("path"), roots))
        elif line.startswith("> "):
            out.append(f"<blockquote>{inline(line[2:])}</blockquote>")
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
        i += 1
    body = "\n".join(out)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")
