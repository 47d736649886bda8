"""`url_citation` annotations: where an answer cites a page that web search found.

A model asked to cite its sources writes their URLs, bare or as Markdown links. Each place the
text names a found URL becomes one annotation spanning it (the whole `[title](url)` link when
it is one), with the page's title.
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
