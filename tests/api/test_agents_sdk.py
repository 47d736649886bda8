"""openai-agents, pointed at Threadline, keeps its session in a Threadline conversation."""

from __future__ import annotations

import asyncio

import openai
from agents import (
    Agent,
    OpenAIConversationsSession,
    OpenAIResponsesModel,
    Runner,
    set_tracing_disabled,
)

from tests.conftest import MODEL
from tests.fake_upstream import FakeUpstream
from tests.live_server import LiveServer


def test_agent_conversation_session_runs_two_turns(server: LiveServer, fake: FakeUpstream) -> None:
    set_tracing_disabled(True)

    async def scenario() -> tuple[str, str, list[object], str]:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        agent = Agent(
            name="assistant",
            instructions="Answer briefly.",
            model=OpenAIResponsesModel(model=MODEL, openai_client=client),
        )
        session = OpenAIConversationsSession(openai_client=client)
        first = await Runner.run(agent, "my name is Ada", session=session)
        second = await Runner.run(agent, "what is my name?", session=session)
        items = await session.get_items()
        conversation_id = await session._get_session_id()
        await client.close()
        return str(first.final_output), str(second.final_output), items, conversation_id

    first, second, items, conversation_id = asyncio.run(scenario())
    assert first == "echo: my name is Ada"
    assert second == "echo: what is my name?"
    sent = [(m["role"], m.get("content")) for m in fake.last_request()["body"]["messages"]]
    assert ("user", "my name is Ada") in sent and ("assistant", "echo: my name is Ada") in sent
    assert len(items) == 4
    assert conversation_id.startswith("conv_")
