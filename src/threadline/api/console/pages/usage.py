"""Usage: requests, tokens, cost and latency by day, and the totals by model, key or end user,
for one tenant or every tenant; narrowed to one model, key or end user, the charts show that
one's usage over time."""

from __future__ import annotations

import time
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from threadline.api.console.charts import BarChart, bar_chart
from threadline.api.console.guard import ConsoleRoute, OperatorDep
from threadline.api.console.rendering import render
from threadline.storage.usage import UsageDimension, UsageQuery, UsageTotals

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

DAY = 86400
PERIODS = (7, 30, 90)
GROUPINGS: dict[str, UsageDimension] = {
    "model": "model",
    "key": "api_key_id",
    "user": "end_user",
    "tenant": "tenant",
}
NARROWING: dict[str, UsageDimension] = {"model": "model", "key": "api_key_id", "user": "end_user"}
"""Query parameters that narrow the page to one value of a dimension."""
TOP = 20
Measure = Literal["requests", "tokens", "cost", "latency"]


def daily_charts(totals: list[UsageTotals], start: float, days: int) -> list[BarChart]:
    by_day = {int(t.bucket_start): t for t in totals}
    starts = [int(start) + DAY * i for i in range(days)]
    days_of = [(s, by_day.get(s) or UsageTotals(float(s))) for s in starts]

    def points(
        measure: Literal["requests", "tokens", "cost", "latency"],
    ) -> list[tuple[str, float]]:
        result = []
        for s, t in days_of:
            if measure == "requests":
                value = float(t.requests)
            elif measure == "tokens":
                value = float(t.input_tokens + t.output_tokens)
            elif measure == "cost":
                value = t.cost
            else:
                value = t.latency_ms / t.requests if t.requests else 0.0
            result.append((time.strftime("%Y-%m-%d", time.gmtime(s)), value))
        return result

    return [
        bar_chart("Requests per day", points("requests"), lambda v: f"{v:,.0f}"),
        bar_chart("Tokens per day (input + output)", points("tokens"), lambda v: f"{v:,.0f}"),
        bar_chart("Cost per day (US dollars)", points("cost"), lambda v: f"${v:,.4f}"),
        bar_chart("Mean latency (ms)", points("latency"), lambda v: f"{v:,.0f} ms"),
    ]


@router.get("/usage")
async def usage(
    request: Request,
    operator: OperatorDep,
    tenant: str = "",
    days: int = 30,
    by: str = "model",
    model: str = "",
    key: str = "",
    user: str = "",
) -> Response:
    days = days if days in PERIODS else 30
    by = by if by in GROUPINGS else "model"
    now = time.time()
    start = (int(now) // DAY - days + 1) * DAY
    scope = tenant or None
    reports = operator.services.usage
    chosen = {"model": model, "key": key, "user": user}
    narrowed = {name: value for name, value in chosen.items() if value}
    only = tuple((NARROWING[name], (value,)) for name, value in narrowed.items())
    daily = await reports.totals(UsageQuery(start, now + 1, scope, DAY, (), only))
    grouped = await reports.totals(UsageQuery(start, now + 1, scope, None, (GROUPINGS[by],), only))
    grouped.sort(key=lambda t: (-t.cost, -(t.input_tokens + t.output_tokens), -t.requests))
    users = await reports.totals(UsageQuery(start, now + 1, scope, None, ("end_user",), only))
    top_users = sorted(
        (t for t in users if t.group.get("end_user")),
        key=lambda t: (-t.cost, -(t.input_tokens + t.output_tokens)),
    )[:TOP]
    keys = await operator.services.store.list_api_keys()
    page = {"tenant": tenant, "days": days, "by": by, **narrowed}

    def narrowed_to(name: str, value: str) -> str:
        """This page, narrowed to one model, key, end user (or tenant)."""
        return "/console/usage?" + urlencode({**page, name: value})

    def widened(name: str) -> str:
        return "/console/usage?" + urlencode({k: v for k, v in page.items() if k != name})

    return render(
        request,
        "usage.html",
        key_names={key.id: f"{key.name} ({key.tenant})" for key in keys},
        title="Usage",
        op=operator,
        tenants=await operator.tenants(),
        tenant=tenant,
        days=days,
        periods=PERIODS,
        by=by,
        groupings=list(GROUPINGS),
        dimension=GROUPINGS[by],
        charts=daily_charts(daily, start, days),
        grouped=grouped[:TOP],
        top_users=top_users,
        narrowed=narrowed,
        narrowed_to=narrowed_to,
        widened=widened,
    )
