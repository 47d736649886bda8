"""Give the model the files a context names: `input_file` by `file_id`, `file_url` or
`file_data`, and `input_image` by `file_id`, in messages and in function call outputs alike.

Stored items keep the reference as the client sent it (a file is never copied into an item);
the files are resolved for each model call, into the provider's view of the context only:

- a provider that reads files natively (`native_files`) gets the bytes inline as a data URL;
- any other gets PDF and text files as text (PDF pages marked `[page N]`), so that every model
  can answer about them; other kinds of file are refused with a 400 for such a provider.

A file named by this turn's input that cannot be had is a 400. One named earlier in the history
that has since been deleted becomes a short note to the model instead, so that deleting a file
never breaks the conversation that used it.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from typing import Any

from threadline.engine.clock import Clock, system_clock
from threadline.engine.file_text import as_file_block, document_text
from threadline.errors import InvalidRequest
from threadline.storage.base import Item
from threadline.storage.files import FileStore
from threadline.tools.base import FetchedFile, ToolFailure, UrlFetcher

Part = dict[str, Any]

_TEXT_CACHE_SIZE = 32
"""Uploaded files converted to text, kept per process: files never change, and a chain that
holds a PDF would otherwise extract it again at every turn."""


class _Gone(Exception):
    """A referenced file cannot be had (deleted, expired, unreachable)."""


class FileInputs:
    def __init__(
        self,
        files: FileStore | None,
        fetcher: UrlFetcher | None,
        clock: Clock = system_clock,
    ) -> None:
        self._files = files
        self._fetcher = fetcher
        self._clock = clock
        self._texts: OrderedDict[tuple[str, str, str | None], str] = OrderedDict()

    async def for_provider(
        self, tenant: str, context: list[Item], current: set[str], *, native: bool
    ) -> list[Item]:
        """`context` with its file parts resolved; `current` holds the ids of this turn's input
        items (their failures are 400s)."""
        resolved: list[Item] = []
        for item in context:
            # A message's parts are its `content`; a function call output's, its `output`.
            field = "output" if item.get("type") == "function_call_output" else "content"
            parts = item.get(field)
            if (
                not isinstance(parts, list)
                # Text-only items, nearly all of a long history, are passed over cheaply.
                or all(part.get("type") in _NOTHING_TO_RESOLVE for part in parts)
                or item.get("type", "message") not in ("message", "function_call_output")
                or not any(_needs_work(part, native) for part in parts)
            ):
                resolved.append(item)
                continue
            strict = item.get("id") in current
            parts = [
                await self._resolve(tenant, part, native, strict=strict)
                if _needs_work(part, native)
                else part
                for part in parts
            ]
            resolved.append({**item, field: parts})
        return resolved

    async def _resolve(self, tenant: str, part: Part, native: bool, *, strict: bool) -> Part:
        key = (tenant, str(part.get("file_id")), part.get("filename"))
        if not native and part["type"] == "input_file" and key in self._texts:
            # Only while the file exists: a deleted file is not served from the cache.
            if self._files is not None and await self._files.get(tenant, key[1], self._clock()):
                self._texts.move_to_end(key)
                return {"type": "input_text", "text": self._texts[key]}
            del self._texts[key]
        try:
            document = await self._load(tenant, part)
        except _Gone as gone:
            if strict:
                raise InvalidRequest(str(gone), param="input") from None
            return {"type": "input_text", "text": f"[{gone}]"}
        if part["type"] == "input_image":
            if not document.media_type.startswith("image/"):
                raise InvalidRequest(
                    f"The file '{document.filename}' is not an image ({document.media_type}).",
                    param="input",
                )
            image: Part = {"type": "input_image", "image_url": _data_url(document)}
            if part.get("detail"):
                image["detail"] = part["detail"]
            return image
        if native:
            return {
                "type": "input_file",
                "filename": document.filename,
                "file_data": _data_url(document),
            }
        text = document_text(document.data, document.media_type, document.filename, param="input")
        if text is None:
            raise InvalidRequest(
                f"The file '{document.filename}' ({document.media_type}) cannot be given to this "
                "model: its provider does not read files natively, and Threadline converts only "
                "PDF and text files to text. Declare the provider with `native_files = true` if "
                "it accepts files.",
                param="input",
            )
        block = as_file_block(document.filename, text)
        if part.get("file_id"):
            self._texts[key] = block
            if len(self._texts) > _TEXT_CACHE_SIZE:
                self._texts.popitem(last=False)
        return {"type": "input_text", "text": block}

    async def _load(self, tenant: str, part: Part) -> FetchedFile:
        if part.get("file_id"):
            file_id = str(part["file_id"])
            record = data = None
            if self._files is not None:
                now = self._clock()
                record = await self._files.get(tenant, file_id, now)
                data = await self._files.read(tenant, file_id, now) if record else None
            if record is None or data is None:
                raise _Gone(f"No such File object: {file_id}")
            return FetchedFile(data, record.media_type, part.get("filename") or record.filename)
        if part.get("file_url"):
            url = str(part["file_url"])
            if self._fetcher is None:
                raise _Gone(f"Files by URL are not available on this server: {url[:200]}")
            try:
                fetched = await self._fetcher.fetch(url)
            except ToolFailure as exc:
                raise _Gone(f"Could not fetch the file_url: {exc.message}") from exc
            name = part.get("filename") or fetched.filename
            return FetchedFile(fetched.data, fetched.media_type, name)
        return _decode_inline(part)


_NOTHING_TO_RESOLVE = frozenset({"input_text", "output_text", "refusal"})


def _needs_work(part: Part, native: bool) -> bool:
    kind = part.get("type")
    if kind == "input_image":
        return bool(part.get("file_id")) and not part.get("image_url")
    if kind != "input_file":
        return False
    return bool(part.get("file_id") or part.get("file_url")) or not native


def _decode_inline(part: Part) -> FetchedFile:
    value = str(part.get("file_data") or "")
    filename = str(part.get("filename") or "file")
    media_type, payload = "", value
    if value.startswith("data:") and "," in value:
        header, payload = value[5:].split(",", 1)
        media_type = header.split(";")[0].lower()
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _Gone(f"The file_data of '{filename}' is not valid base64") from None
    return FetchedFile(data, media_type, filename)


def _data_url(document: FetchedFile) -> str:
    encoded = base64.b64encode(document.data).decode("ascii")
    return f"data:{document.media_type or 'application/octet-stream'};base64,{encoded}"
