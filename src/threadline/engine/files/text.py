"""Documents as text, for models that cannot read files: PDF (with `[page N]` markers) and
text files."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from threadline.errors import InvalidRequest

# pypdf logs every oddity of a malformed PDF at warning level; the caller reports failures.
logging.getLogger("pypdf").setLevel(logging.ERROR)

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-yaml")
_TEXT_SUFFIXES = (".txt", ".md", ".csv", ".json", ".xml", ".yaml", ".yml", ".html", ".tsv")


def is_pdf(media_type: str, filename: str, data: bytes) -> bool:
    return (
        media_type == "application/pdf"
        or filename.lower().endswith(".pdf")
        or (data[:5] == b"%PDF-")
    )


def is_text(media_type: str, filename: str) -> bool:
    return media_type.startswith(_TEXT_TYPES) or filename.lower().endswith(_TEXT_SUFFIXES)


def document_text(data: bytes, media_type: str, filename: str, *, param: str) -> str | None:
    """The document's text, or None when it is neither a PDF nor text. A PDF that cannot be
    read is a 400 naming `param`."""
    if is_pdf(media_type, filename, data):
        return pdf_text(data, filename, param=param)
    if is_text(media_type, filename):
        return data.decode("utf-8", errors="replace")
    return None


# Appended to a PDF whose `startxref` pypdf cannot find: a pointer to no table, which makes pypdf
# (when not strict) rebuild the cross-reference table by scanning the file's objects.
_NO_XREF = b"\nstartxref\n0\n%%EOF\n"


def _open_pdf(data: bytes) -> PdfReader:
    """Read the PDF as lenient readers do: one without a usable cross-reference table (as
    hand-written and truncated PDFs often are) is read from its objects."""
    try:
        return PdfReader(io.BytesIO(data), strict=False)
    except PyPdfError:
        return PdfReader(io.BytesIO(data + _NO_XREF), strict=False)


def pdf_text(data: bytes, filename: str, *, param: str) -> str:
    try:
        reader = _open_pdf(data)
        if reader.is_encrypted:
            raise InvalidRequest(
                f"The PDF '{filename}' is encrypted; Threadline cannot read it.", param=param
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise InvalidRequest(
            f"The file '{filename}' is not a readable PDF ({type(exc).__name__}).", param=param
        ) from exc
    return "\n\n".join(f"[page {number}]\n{text.strip()}" for number, text in enumerate(pages, 1))


def as_file_block(filename: str, text: str) -> str:
    """How a document's text is shown to the model (the same wrapping inline text files get)."""
    return f'<file name="{filename}">\n{text}\n</file>'
