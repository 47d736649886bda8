"""Tool definitions and `tool_choice`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from threadline.protocol.content import WireModel


class FunctionTool(WireModel):
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class OtherTool(BaseModel):
    """A tool type Threadline does not run yet; kept so the engine can name it in its 400."""

    model_config = ConfigDict(extra="allow")
    type: str


class FunctionToolChoice(WireModel):
    type: Literal["function"]
    name: str


class AllowedToolsChoice(WireModel):
    type: Literal["allowed_tools"]
    mode: Literal["auto", "required"]
    tools: list[dict[str, Any]]


class HostedToolChoice(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str


ToolChoice = (
    Literal["none", "auto", "required"] | FunctionToolChoice | AllowedToolsChoice | HostedToolChoice
)
