"""The Responses use case: a request becomes a prepared turn (`service.py`), the turn runs
(`turn.py`, the model and server-tool calls in `tool_loop.py`, its output assembled into
stream events in `assembler.py`) and ends in one place (`turn_end.py`); a running turn is
stored as it starts and visible while it runs (`running_turns.py`). Server-side tool kinds
live in `server_tools/`, one module each."""
