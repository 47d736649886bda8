"""The MongoDB stand-in (mongo_standin.py) keeps the promises the contract suite relies on.

A stand-in that answered wrongly would let the MongoDB backend pass for the wrong reasons, so
these check the double itself: transactions hide and undo their writes, `$lookup` binds `let`
variables per document, and what mongomock would evaluate unlike MongoDB is refused.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError, InvalidOperation, OperationFailure

from tests.storage.mongo_standin import MongoStandIn, StandInSession


async def test_a_transaction_hides_its_writes_until_commit_and_undoes_them_on_error() -> None:
    server = MongoStandIn()
    client = server.client()
    notes = client.get_database("db")["notes"]
    await notes.insert_one({"_id": "kept", "n": 1})
    seen_during: list[int] = []
    inside = asyncio.Event()

    async def failing(session: StandInSession) -> None:
        await notes.insert_one({"_id": "new"}, session=session)
        await notes.update_one({"_id": "kept"}, {"$inc": {"n": 1}}, session=session)
        inside.set()
        await asyncio.sleep(0.01)
        await notes.insert_one({"_id": "kept"}, session=session)  # duplicate key: aborts

    async def reader() -> None:
        await inside.wait()
        seen_during.append(await notes.count_documents({}))

    async with client.start_session() as session:
        with pytest.raises(DuplicateKeyError):
            await asyncio.gather(session.with_transaction(failing), reader())
    assert seen_during == [1]  # the reader waited for the transaction to end
    assert await notes.find({}).to_list() == [{"_id": "kept", "n": 1}]
    assert server.transactions_committed == 0


async def test_an_operation_that_forgets_its_session_inside_a_transaction_is_refused() -> None:
    client = MongoStandIn().client()
    notes = client.get_database("db")["notes"]

    async def forgetful(session: StandInSession) -> None:
        await notes.insert_one({"_id": "x"})

    async with client.start_session() as session:
        with pytest.raises(InvalidOperation, match="session"):
            await session.with_transaction(forgetful)


async def test_a_standalone_server_refuses_transactions() -> None:
    client = MongoStandIn(replica_set=False).client()
    hello = await client.get_database("db").command("hello")
    assert "setName" not in hello

    async def work(session: StandInSession) -> None:
        raise AssertionError("never runs")

    async with client.start_session() as session:
        with pytest.raises(OperationFailure, match="replica set"):
            await session.with_transaction(work)


async def test_lookup_binds_let_variables_for_each_document() -> None:
    db = MongoStandIn().client().get_database("db")
    await db["orders"].insert_many([{"_id": "o1", "shop": "s", "max": 2}, {"_id": "o2", "max": 9}])
    await db["lines"].insert_many([{"shop": "s", "n": n} for n in range(5)])
    cursor = await db["orders"].aggregate(
        [
            {
                "$lookup": {
                    "from": "lines",
                    "localField": "shop",
                    "foreignField": "shop",
                    "let": {"limit": "$max"},
                    "pipeline": [{"$match": {"$expr": {"$lt": ["$n", "$$limit"]}}}],
                    "as": "lines",
                }
            },
            {"$project": {"n": "$lines.n"}},
        ]
    )
    found = {doc["_id"]: sorted(doc["n"]) for doc in await cursor.to_list()}
    # o2 has no shop: a missing localField matches lines without one, and there are none.
    assert found == {"o1": [0, 1], "o2": []}


@pytest.mark.parametrize(
    "stage",
    [
        {"$project": {"pair": [{"a": "$x"}, 1]}},
        {"$project": {"both": {"$concatArrays": [["$x"], "$y"]}}},
        {"$lookup": {"from": "o", "localField": "a.b", "foreignField": "c", "as": "d"}},
    ],
)
async def test_what_mongomock_would_evaluate_unlike_mongodb_is_refused(
    stage: dict[str, Any],
) -> None:
    db = MongoStandIn().client().get_database("db")
    await db["orders"].insert_one({"x": 1, "y": [2], "a": [{"b": 1}]})
    with pytest.raises(NotImplementedError):
        await db["orders"].aggregate([stage])
