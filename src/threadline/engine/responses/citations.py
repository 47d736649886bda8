"""Annotations of where an answer cites what a search found.

`url_citation`: a model asked to cite its sources writes their URLs, bare or as Markdown links.
Each place the text names a found URL becomes one annotation spanning it (the whole
`[title](url)` link when it is one), with the page's title.

`file_citation`: a model asked to name the files it used writes their filenames. Each file
named gets one annotation at the end of its first mention (`index`, a position in the text, as
OpenAI's citations of files carry), with its file id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_MARKDOWN_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")


def url_citations(text: str, sources: Mapping[str, str]) -> list[dict[str, Any]]:
    if not sources or not text:
        return []
    spans: list[tuple[int, int, str]] = []
    for link in _MARKDOWN_LINK.finditer(text):
        url = link.group(1)
        if url in sources:
            spans.append((link.start(), link.end(), url))
    # Longer URLs first, so that a URL that is a prefix of another does not claim its text.
    for url in sorted(sources, key=len, reverse=True):
        start = text.find(url)
        while start != -1:
            end = start + len(url)
            if not any(s < end and start < e for s, e, _ in spans):
                spans.append((start, end, url))
            start = text.find(url, end)
    return [
        {
            "type": "url_citation",
            "url": url,
            "title": sources[url],
            "start_index": start,
            "end_index": end,
        }
        for start, end, url in sorted(spans)
    ]


def file_citations(text: str, files: Mapping[str, str]) -> list[dict[str, Any]]:
    if not files or not text:
        return []
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    # Longer names first, so that a name inside another (a.md in data.md) does not claim it.
    for filename in sorted(files, key=len, reverse=True):
        start = text.find(filename)
        while start != -1 and any(s < start + len(filename) and start < e for s, e in taken):
            start = text.find(filename, start + 1)
        if start != -1:
            taken.append((start, start + len(filename)))
            found.append((start + len(filename), filename))
    return [
        {"type": "file_citation", "file_id": files[name], "filename": name, "index": index}
        for index, name in sorted(found)
    ]
