"""A file's text, for ingestion: the formats OpenAI's file_search reads that a maintained
library (or the standard library) reads here.

- PDF through pypdf (engine/files/text.py), with `[page N]` markers;
- Word (.docx) and PowerPoint (.pptx): their XML parts, paragraph by paragraph;
- HTML: its text, without scripts and styles;
- text, Markdown, JSON, CSV and source code (the suffixes OpenAI lists): as UTF-8.

Anything else (legacy .doc, images, archives) is `unsupported_file`; a file that claims a
format it does not hold is `invalid_file`.
"""

from __future__ import annotations

import io
import zipfile
from html.parser import HTMLParser
from xml.etree import ElementTree

from threadline.engine.files.text import is_pdf, is_text, pdf_text
from threadline.errors import InvalidRequest

_CODE_SUFFIXES = (
    ".c", ".cpp", ".cs", ".css", ".go", ".java", ".js", ".php", ".py", ".rb", ".sh", ".tex",
    ".ts", ".rs", ".kt", ".swift", ".scala", ".sql", ".toml", ".ini", ".rst", ".markdown",
)  # fmt: skip
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
_MAX_XML_BYTES = 64 * 1024 * 1024
"""Bound on one decompressed XML part: a zip bomb stops here."""
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"


class ExtractionFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def extract_text(data: bytes, media_type: str, filename: str) -> str:
    name = filename.lower()
    if is_pdf(media_type, filename, data):
        try:
            return pdf_text(data, filename, param="file_id")
        except InvalidRequest as exc:
            raise ExtractionFailed("invalid_file", exc.message) from exc
    if name.endswith(".docx") or media_type == _DOCX:
        return _office_text(data, filename, "word/document.xml", f"{_W}p", f"{_W}t")
    if name.endswith(".pptx") or media_type == _PPTX:
        return _office_text(data, filename, "ppt/slides/slide", f"{_A}p", f"{_A}t")
    if name.endswith((".html", ".htm")) or media_type == "text/html":
        return _html_text(_utf8(data, filename))
    if is_text(media_type, filename) or name.endswith(_CODE_SUFFIXES):
        return _utf8(data, filename)
    raise ExtractionFailed(
        "unsupported_file",
        f"The file '{filename}' ({media_type}) is not a format file_search reads: PDF, "
        "Word (.docx), PowerPoint (.pptx), HTML, text, Markdown, JSON, CSV or source code.",
    )


def _utf8(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExtractionFailed("invalid_file", f"The file '{filename}' is not UTF-8 text.") from exc


def _office_text(data: bytes, filename: str, part: str, paragraph: str, run: str) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = sorted(
                (n for n in archive.namelist() if n.startswith(part) and n.endswith(".xml")),
                key=lambda n: (len(n), n),  # slide2 before slide10
            )
            paragraphs: list[str] = []
            for name in names:
                with archive.open(name) as handle:
                    xml = handle.read(_MAX_XML_BYTES + 1)
                if len(xml) > _MAX_XML_BYTES:
                    raise ExtractionFailed("invalid_file", f"'{filename}' has a part too large.")
                root = ElementTree.fromstring(xml)
                for element in root.iter(paragraph):
                    text = "".join(t.text or "" for t in element.iter(run)).strip()
                    if text:
                        paragraphs.append(text)
    except (zipfile.BadZipFile, ElementTree.ParseError, KeyError, OSError) as exc:
        raise ExtractionFailed(
            "invalid_file", f"The file '{filename}' is not a readable Office document."
        ) from exc
    return "\n\n".join(paragraphs)


class _HtmlText(HTMLParser):
    _SKIPPED = frozenset({"script", "style", "noscript", "template"})
    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
