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

The `file_url` parts of one request share one budget (`FileUrlLimits`): how many, how many bytes
in all (a download is cut as soon as it goes over), and one deadline. This turn's input is served
first, so a long history can never make a new file a 400; the history's oldest files are the
ones left out (as notes) when the budget runs out.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from threadline.engine.clock import Clock, system_clock
from threadline.engine.files.text import as_file_block, document_text
from threadline.errors import InvalidRequest
from threadline.prefix_memo import DEFAULT_MAX_BYTES, PrefixMemo
from threadline.storage.base import Item
from threadline.storage.files import FileStore
from threadline.tools.base import FetchedFile, ToolFailure, UrlFetcher

Part = dict[str, Any]

_TEXT_CACHE_SIZE = 32
"""Uploaded files converted to text, kept per process: files never change, and a chain that
holds a PDF would otherwise extract it again at every turn."""


class _Gone(Exception):
    """A referenced file cannot be had (deleted, expired, unreachable)."""


@dataclass(frozen=True, slots=True)
class FileUrlLimits:
    """What the `file_url` parts of one request may cost, all together."""

    max_parts: int = 8
    max_bytes: int = 32 * 1024 * 1024
    timeout: float = 30.0
    """Seconds, from the first download to the last (however slowly a server drips)."""


class _FetchBudget:
    """What is left of a request's `FileUrlLimits`."""

    def __init__(self, limits: FileUrlLimits) -> None:
        self.limits = limits
        self.parts = limits.max_parts
        self.bytes = limits.max_bytes
        self._deadline: float | None = None

    @property
    def deadline(self) -> float:
        """The loop time by which every download must be done, set at the first one (nearly
        every request has none: a budget costs nothing until it is used)."""
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().time() + self.limits.timeout
        return self._deadline


class FileInputs:
    def __init__(
        self,
        files: FileStore | None,
        fetcher: UrlFetcher | None,
        clock: Clock = system_clock,
        *,
        limits: FileUrlLimits | None = None,
        memo_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._files = files
        self._fetcher = fetcher
        self._clock = clock
        self._limits = limits or FileUrlLimits()
        self._texts: OrderedDict[tuple[str, str, str | None], str] = OrderedDict()
        self._with_files: PrefixMemo[tuple[int, ...]] = PrefixMemo(memo_bytes)
        """The indexes of the items that name files, for lists of items seen lately."""

    async def for_provider(
        self, tenant: str, context: list[Item], input_count: int, *, native: bool
    ) -> list[Item]:
        """`context` with its file parts resolved. Its last `input_count` items are this turn's
        input, whose failures are 400s that name the part."""
        first_input = len(context) - input_count
        budget = _FetchBudget(self._limits)
        resolved = list(context)
        # Which items of the history name a file is found once per item, not on every turn
        # (it depends on the items alone); the files themselves are resolved on every turn.
        history = context[:first_input]
        kept = self._with_files.find(native, history)
        start = 0 if kept is None else len(kept.items)
        found = [
            *(() if kept is None else kept.result),
            *(i for i in range(start, first_input) if _file_field(context[i], native)),
        ]
        self._with_files.keep(native, history, tuple(found), kept)
        found += (i for i in range(first_input, len(context)) if _file_field(context[i], native))
        # This turn's input first, then the history from the newest part back: when the
        # request's file_url budget runs out, the oldest files are the ones the model is told
        # of instead.
        order = [i for i in found if i >= first_input] + [
            i for i in reversed(found) if i < first_input
        ]
        for index in order:
            item = context[index]
            field = _file_field(item, native)
            assert field is not None  # found above
            parts = item[field]
            where = f"input[{index - first_input}].{field}" if index >= first_input else None
            new_parts = list(parts)
            for n in range(len(parts)) if where else reversed(range(len(parts))):
                if _needs_work(parts[n], native):
                    new_parts[n] = await self._resolve(
                        tenant, parts[n], native, budget, where=f"{where}[{n}]" if where else None
                    )
            resolved[index] = {**item, field: new_parts}
        return resolved

    async def _resolve(
        self, tenant: str, part: Part, native: bool, budget: _FetchBudget, *, where: str | None
    ) -> Part:
        """`part` as the provider takes it; `where` is its param in this turn's input (None for
        a part of the history, whose file when gone becomes a note to the model)."""
        key = (tenant, str(part.get("file_id")), part.get("filename"))
        if not native and part["type"] == "input_file" and key in self._texts:
            # Only while the file exists: a deleted file is not served from the cache.
            if self._files is not None and await self._files.get(tenant, key[1], self._clock()):
                self._texts.move_to_end(key)
                return {"type": "input_text", "text": self._texts[key]}
            del self._texts[key]
        try:
            document = await self._load(tenant, part, budget)
        except _Gone as gone:
            if where is not None:
                raise InvalidRequest(str(gone), param=where) from None
            return {"type": "input_text", "text": f"[{gone}]"}
        if part["type"] == "input_image":
            if not document.media_type.startswith("image/"):
                raise InvalidRequest(
                    f"The file '{document.filename}' is not an image ({document.media_type}).",
                    param=where or "input",
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
        text = document_text(
            document.data, document.media_type, document.filename, param=where or "input"
        )
        if text is None:
            raise InvalidRequest(
                f"The file '{document.filename}' ({document.media_type}) cannot be given to this "
                "model: its provider does not read files natively, and Threadline converts only "
                "PDF and text files to text. Declare the provider with `native_files = true` if "
                "it accepts files.",
                param=where or "input",
            )
        block = as_file_block(document.filename, text)
        if part.get("file_id"):
            self._texts[key] = block
            if len(self._texts) > _TEXT_CACHE_SIZE:
                self._texts.popitem(last=False)
        return {"type": "input_text", "text": block}

    async def _load(self, tenant: str, part: Part, budget: _FetchBudget) -> FetchedFile:
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
            fetched = await self._fetch(tenant, url, budget)
            name = part.get("filename") or fetched.filename
            return FetchedFile(fetched.data, fetched.media_type, name)
        return _decode_inline(part)

    async def _fetch(self, tenant: str, url: str, budget: _FetchBudget) -> FetchedFile:
        assert self._fetcher is not None
        limits = budget.limits
        if budget.parts <= 0:
            raise _Gone(
                f"Not fetched: one request may give the model at most {limits.max_parts} "
                f"file_url parts (setting THREADLINE_FILE_URL_MAX_PARTS): {url[:200]}. Upload "
                "the files (POST /v1/files) and name them by file_id instead."
            )
        budget.parts -= 1
        try:
            async with asyncio.timeout_at(budget.deadline):
                fetched = await self._fetcher.fetch(url, tenant=tenant, max_bytes=budget.bytes)
        except TimeoutError:
            raise _Gone(
                f"Could not fetch the file_url {url[:200]}: the file_url downloads of one "
                f"request may take {limits.timeout:g} s in all (setting "
                "THREADLINE_OUTBOUND_TIMEOUT)."
            ) from None
        except ToolFailure as exc:
            raise _Gone(f"Could not fetch the file_url: {exc.message}") from exc
        budget.bytes -= len(fetched.data)
        return fetched


_NOTHING_TO_RESOLVE = frozenset({"input_text", "output_text", "refusal"})


def _file_field(item: Item, native: bool) -> str | None:
    """The field of `item` whose parts need a file resolved (or read), if any: a message's
    parts are its `content`, a function call output's its `output`."""
    kind = item.get("type", "message")
    if kind == "message":
        field = "content"
    elif kind == "function_call_output":
        field = "output"
    else:
        return None
    parts = item.get(field)
    if not isinstance(parts, list):
        return None
    # Text-only items, nearly all of a long history, are passed over cheaply.
    for part in parts:
        if part.get("type") not in _NOTHING_TO_RESOLVE:
            break
    else:
        return None
    return field if any(_needs_work(part, native) for part in parts) else None


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
