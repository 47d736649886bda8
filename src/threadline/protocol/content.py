"""Content parts inside message items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Flag = Annotated[bool, Field(strict=True)]
"""A boolean of a request body: `true` or `false` only, as OpenAI takes it (lax parsing would
read "yes", "off" or 1 as one)."""


class WireModel(BaseModel):
    """Unknown fields are an error, as on OpenAI's API ("Unknown parameter")."""

    model_config = ConfigDict(extra="forbid")


class InputText(WireModel):
    type: Literal["input_text"]
    text: str
    prompt_cache_breakpoint: dict[str, Any] | None = None


class InputImage(WireModel):
    type: Literal["input_image"]
    detail: Literal["low", "high", "auto", "original"] = "auto"
    image_url: str | None = None
    file_id: str | None = None
    prompt_cache_breakpoint: dict[str, Any] | None = None


class InputFile(WireModel):
    type: Literal["input_file"]
    file_id: str | None = None
    file_url: str | None = None
    file_data: str | None = None
    filename: str | None = None
    detail: Literal["low", "high", "auto"] | None = None
    prompt_cache_breakpoint: dict[str, Any] | None = None


class OutputText(WireModel):
    type: Literal["output_text"]
    text: str
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    logprobs: list[dict[str, Any]] | None = None


class Refusal(WireModel):
    type: Literal["refusal"]
    refusal: str


InputContent = Annotated[InputText | InputImage | InputFile, Field(discriminator="type")]
MessageContent = Annotated[
    InputText | InputImage | InputFile | OutputText | Refusal, Field(discriminator="type")
]
