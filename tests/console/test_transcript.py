"""How the console's transcript reads each kind of item, and how its charts are scaled."""

from __future__ import annotations

from threadline.api.console.charts import bar_chart, nice_ceiling
from threadline.api.console.transcript import transcript


def test_messages_tool_calls_outputs_and_reasoning_each_read_as_what_they_are() -> None:
    entries = transcript(
        [
            {"id": "m1", "type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "weather?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                {"type": "input_image", "image_url": "https://example.com/cat.png"},
                {"type": "input_file", "filename": "report.pdf"},
            ]},
            {"id": "fc1", "type": "function_call", "name": "get_weather", "arguments": "{}"},
            {"id": "fo1", "type": "function_call_output", "output": "sunny"},
            {"id": "rs1", "type": "reasoning",
             "summary": [{"type": "summary_text", "text": "think"}]},
            {"id": "m2", "type": "message", "role": "assistant", "status": "incomplete",
             "content": [{"type": "refusal", "refusal": "no"}]},
        ]
    )  # fmt: skip
    user, call, output, reasoning, refusal = entries
    assert [p.kind for p in user.parts] == ["text", "image", "image_link", "file"]
    assert user.label == "user"
    assert (call.kind, call.label, call.parts[0].text) == (
        "tool_call",
        "function call get_weather",
        "{}",
    )
    assert (output.kind, output.parts[0].text) == ("tool_output", "sunny")
    assert (reasoning.kind, reasoning.parts[0].text) == ("reasoning", "think")
    assert refusal.failed and refusal.parts[0].kind == "refusal"


def test_an_image_by_address_is_never_loaded_only_named() -> None:
    (entry,) = transcript(
        [{"id": "m", "type": "message", "role": "user", "content": [
            {"type": "input_image", "image_url": "https://tracker.example/p.gif"}]}]
    )  # fmt: skip
    assert entry.parts[0].kind == "image_link"


def test_hidden_content_still_says_how_long_it_is() -> None:
    (entry,) = transcript(
        [{"id": "m", "type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "12345"}]}]
    )  # fmt: skip
    assert entry.chars == 5


def test_a_failed_mcp_call_is_marked_failed_with_its_error() -> None:
    (entry,) = transcript(
        [{"id": "c", "type": "mcp_call", "server_label": "docs", "name": "find",
          "arguments": "{}", "error": "timeout"}]
    )  # fmt: skip
    assert entry.failed
    assert entry.label == "MCP docs find"
    assert entry.parts[-1].text == "error: timeout"


def test_a_chart_s_top_line_is_a_round_number_above_the_tallest_bar() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 7, 12, 180, 4999)] == [
        1,
        0.5,
        1,
        10,
        20,
        200,
        5000,
    ]
    chart = bar_chart("Requests", [("a", 3.0), ("b", 0.0), ("c", 10.0)], str)
    assert chart.top == "10.0"
    tall, empty, full = chart.bars
    assert full.height == chart.height and full.y == 0
    assert empty.height == 0
    assert abs(tall.height - chart.height * 0.3) < 1e-9
    assert not chart.empty
    assert bar_chart("Nothing", [("a", 0.0)], str).empty
