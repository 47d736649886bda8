"""Usage reports: the ledger added up, in OpenAI's shapes for `/v1/organization/usage/
completions` and `/v1/organization/costs` (a caller sees its own tenant, as an OpenAI project
key sees its project), and as rows for `threadline usage` (any tenant, the operator's).

Buckets are aligned to their width in UTC (days start at midnight UTC) and every bucket of the
range is listed, empty or not, as OpenAI does; `page` is the start of the next page's first
bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadline.engine.clock import Clock, system_clock
from threadline.engine.usage.meter import UsageMeter
from threadline.errors import InvalidRequest
from threadline.protocol.usage import CostReportQuery, UsageReportQuery
from threadline.storage.base import Store
from threadline.storage.usage import UsageDimension, UsageQuery, UsageTotals

WIDTHS = {"1m": 60, "1h": 3_600, "1d": 86_400}
_PAGE_SIZES = {"1m": (60, 1_440), "1h": (24, 168), "1d": (7, 31)}
"""Default and largest number of buckets a page holds, by width (OpenAI's)."""

_COMPLETION_GROUPS: dict[str, UsageDimension] = {
    "project_id": "tenant",
    "api_key_id": "api_key_id",
    "user_id": "end_user",
    "model": "model",
}
_ANSWERS = ("response", "chat.completion", "compaction")
_COST_GROUPS: dict[str, UsageDimension] = {
    "project_id": "tenant",
    "api_key_id": "api_key_id",
    "line_item": "model",
}


@dataclass(frozen=True, slots=True)
class _Range:
    first: float
    end: float
    width: float
    count: int
    next_page: str | None


class UsageReports:
    def __init__(self, store: Store, meter: UsageMeter, clock: Clock = system_clock) -> None:
        self._store = store
        self._meter = meter
        self._clock = clock

    async def totals(self, query: UsageQuery) -> list[UsageTotals]:
        """The ledger added up. What this process has not written yet is written first, so it
        reads its own requests."""
        await self._meter.flush()
        return await self._store.summarize_usage(query)

    async def completions(self, tenant: str, params: UsageReportQuery) -> dict[str, Any]:
        """Model calls that answered (responses, chat completions, compactions)."""
        return await self._usage(tenant, params, _ANSWERS, "completions")

    async def embeddings(self, tenant: str, params: UsageReportQuery) -> dict[str, Any]:
        return await self._usage(tenant, params, ("embedding",), "embeddings")

    async def _usage(
        self, tenant: str, params: UsageReportQuery, kinds: tuple[str, ...], name: str
    ) -> dict[str, Any]:
        groups = _groups(params.group_by, _COMPLETION_GROUPS)
        span = self._range(params.start_time, params.end_time, params.bucket_width, params)
        only = _filters(
            tenant,
            params.project_ids,
            (
                ("kind", list(kinds)),
                ("model", params.models),
                ("api_key_id", params.api_key_ids),
                ("end_user", params.user_ids),
            ),
        )
        if params.batch:  # no call here is a Batch API job's
            only = None
        totals = await self._bucketed(tenant, span, groups, only)

        def result(t: UsageTotals) -> dict[str, Any]:
            counts: dict[str, Any] = {"input_tokens": t.input_tokens}
            if name == "completions":
                counts.update(
                    output_tokens=t.output_tokens,
                    input_cached_tokens=t.cached_tokens,
                    input_uncached_tokens=t.input_tokens - t.cached_tokens,
                    input_audio_tokens=0,
                    output_audio_tokens=0,
                )
            fields = _group_fields(t, groups, _COMPLETION_GROUPS)
            if name == "completions":
                fields["batch"] = None
            return {
                "object": f"organization.usage.{name}.result",
                **counts,
                "num_model_requests": t.requests,
                **fields,
            }

        return _page(span, totals, result)

    async def costs(self, tenant: str, params: CostReportQuery) -> dict[str, Any]:
        groups = _groups(params.group_by, _COST_GROUPS)
        span = self._range(params.start_time, params.end_time, params.bucket_width, params)
        only = _filters(tenant, params.project_ids, (("api_key_id", params.api_key_ids),))
        totals = await self._bucketed(tenant, span, groups, only)

        def result(t: UsageTotals) -> dict[str, Any]:
            return {
                "object": "organization.costs.result",
                "amount": {"value": round(t.cost, 10), "currency": "usd"},
                **_group_fields(t, groups, _COST_GROUPS),
            }

        return _page(span, totals, result)

    async def _bucketed(
        self,
        tenant: str,
        span: _Range,
        groups: tuple[UsageDimension, ...],
        only: tuple[tuple[UsageDimension, tuple[str, ...]], ...] | None,
    ) -> list[UsageTotals]:
        if only is None:  # filtered to another project: nothing of the caller's matches
            return []
        query = UsageQuery(span.first, span.end, tenant, span.width, groups, only)
        return await self.totals(query)

    def _range(
        self,
        start_time: int,
        end_time: int | None,
        width_name: str,
        params: UsageReportQuery | CostReportQuery,
    ) -> _Range:
        width = WIDTHS[width_name]
        default_size, max_size = _PAGE_SIZES[width_name]
        if params.limit is not None and params.limit > max_size:
            raise InvalidRequest(
                f"'limit' may be at most {max_size} for bucket_width '{width_name}'.",
                param="limit",
            )
        end = float(end_time if end_time is not None else self._clock())
        if end <= start_time:
            raise InvalidRequest("'end_time' must be after 'start_time'.", param="end_time")
        first = float(start_time // width * width)
        if params.page is not None:
            try:
                first = float(int(params.page))
            except ValueError:
                raise InvalidRequest(
                    "'page' is not a cursor this server gave.", param="page"
                ) from None
            if first % width or first < start_time // width * width:
                raise InvalidRequest("'page' is not a cursor this server gave.", param="page")
        size = params.limit or default_size
        buckets = max(0, -int(-(end - first) // width))
        count = min(size, buckets)
        more = buckets > count
        page_end = min(end, first + count * width)
        next_page = str(int(first + count * width)) if more else None
        return _Range(float(first), page_end, float(width), count, next_page)


def _groups(
    names: list[str] | None, known: dict[str, UsageDimension]
) -> tuple[UsageDimension, ...]:
    groups: list[UsageDimension] = []
    for index, name in enumerate(names or ()):
        if name not in known:
            raise InvalidRequest(
                f"group_by '{name}' is not supported here; group by {', '.join(known)}.",
                param=f"group_by[{index}]",
            )
        if known[name] not in groups:
            groups.append(known[name])
    return tuple(groups)


def _filters(
    tenant: str,
    project_ids: list[str] | None,
    given: tuple[tuple[UsageDimension, list[str] | None], ...],
) -> tuple[tuple[UsageDimension, tuple[str, ...]], ...] | None:
    """The query's filters; None when `project_ids` leaves out the caller's own tenant."""
    if project_ids is not None and tenant not in project_ids:
        return None
    return tuple((name, tuple(values)) for name, values in given if values is not None)


def _group_fields(
    totals: UsageTotals, groups: tuple[UsageDimension, ...], known: dict[str, UsageDimension]
) -> dict[str, Any]:
    return {wire: totals.group.get(dim) if dim in groups else None for wire, dim in known.items()}


def _page(span: _Range, totals: list[UsageTotals], result: Any) -> dict[str, Any]:
    by_bucket: dict[float, list[UsageTotals]] = {}
    for t in totals:
        by_bucket.setdefault(t.bucket_start, []).append(t)
    data = []
    for n in range(span.count):
        start = span.first + n * span.width
        data.append(
            {
                "object": "bucket",
                "start_time": int(start),
                "end_time": int(start + span.width),
                "results": [result(t) for t in by_bucket.get(start, [])],
            }
        )
    return {
        "object": "page",
        "data": data,
        "has_more": span.next_page is not None,
        "next_page": span.next_page,
    }
