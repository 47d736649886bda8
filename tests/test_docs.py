"""The docs cannot drift from the code: settings, commands, endpoints and parameters."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from threadline.api.app import create_app
from threadline.cli import docs
from threadline.cli.chat_session import HELP
from threadline.protocol.responses import ResponseCreateParams
from threadline.settings import ProviderSettings, Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REGENERATE = "run `python -m threadline.cli.docs` and commit the result"


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_configuration_page_is_generated_from_the_settings() -> None:
    assert _read("configuration.md") == docs.render_configuration(), REGENERATE


def test_every_setting_has_a_described_row_in_the_configuration_page() -> None:
    page = _read("configuration.md")
    for model in (Settings, ProviderSettings):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} needs Field(description=...)"
            assert f"| `{name}` |" in page, f"setting {name} is not in docs/configuration.md"
    for name in Settings.model_fields:
        assert f"`THREADLINE_{name.upper()}`" in page


def test_a_setting_without_a_description_cannot_be_generated() -> None:
    from pydantic.fields import FieldInfo

    with pytest.raises(docs.UndocumentedSetting):
        docs._description(Settings, "made_up", FieldInfo(annotation=str, default=""))


def test_every_command_has_a_section_in_the_cli_page() -> None:
    page = _read("cli.md")
    headings = set(re.findall(r"^#+ `(threadline[^`]*)`$", page, re.MULTILINE))
    blocks = set(re.findall(r"<!-- generated: (threadline[^>]*?) -->", page))
    every = list(docs.commands())
    assert "threadline chat" in every and "threadline db status" in every
    for command in every:
        assert command in headings, f"`{command}` has no section in docs/cli.md"
        assert command in blocks, f"`{command}` has no generated block in docs/cli.md"


def test_cli_page_shows_the_options_the_code_defines() -> None:
    page = _read("cli.md")
    assert docs.refresh_cli_doc(page) == page, REGENERATE


def test_every_chat_command_is_documented() -> None:
    page = _read("cli.md")
    for command in re.findall(r"^(/\w+)", HELP, re.MULTILINE):
        assert f"`{command}" in page, f"chat command {command} is not in docs/cli.md"


def test_every_endpoint_of_the_server_is_in_the_api_page() -> None:
    page = _read("api.md")
    app = create_app(Settings(database_url="memory://"))
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            row = f"`{method.upper()} {path}`"
            assert row in page, f"{row} is not in docs/api.md"
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
        assert f"`GET {path}`" in page


def test_every_request_parameter_has_a_status_in_the_api_page() -> None:
    page = _read("api.md")
    for name in ResponseCreateParams.model_fields:
        match = re.search(rf"^\| `{name}` \| (supported|partial|not yet) \|", page, re.MULTILINE)
        assert match, f"parameter {name} has no row with a status in docs/api.md"


def test_every_metric_the_server_exposes_is_in_the_api_page() -> None:
    from threadline.api.metrics import Metrics

    page = _read("api.md")
    names = {
        metric.name
        for metric in Metrics().registry.collect()
        if metric.name.startswith("threadline_")
    }
    assert len(names) >= 9
    for name in names:
        suffix = "_total" if f"`{name}_total`" in page else ""
        assert f"`{name}{suffix}`" in page, f"metric {name} is not in docs/api.md"


@pytest.mark.parametrize("name", ["README.md", *sorted(p.name for p in DOCS.glob("*.md"))])
def test_config_examples_in_the_docs_are_valid_settings(name: str) -> None:
    text = (ROOT / name if name == "README.md" else DOCS / name).read_text(encoding="utf-8")
    for language, block in re.findall(r"```(toml|yaml)\n(.*?)```", text, re.DOTALL):
        data = tomllib.loads(block) if language == "toml" else yaml.safe_load(block)
        Settings(**data)  # raises on an unknown or mistyped setting


def test_readme_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("configuration", "providers", "storage", "cli", "api"):
        assert f"docs/{page}.md" in readme, f"README.md does not link docs/{page}.md"


def test_every_module_the_architecture_map_names_exists() -> None:
    """The map is checked against the tree: a moved or renamed module must be redrawn."""
    src = ROOT / "src" / "threadline"
    # Paths are written from the package, or shortened within the engine's use cases.
    bases = [ROOT, src, src / "engine", src / "engine" / "responses"]
    named = set(re.findall(r"`?((?:[a-z_]+/)+[a-z_]+\.py)", _read("architecture.md")))
    assert len(named) > 20
    missing = sorted(path for path in named if not any((b / path).exists() for b in bases))
    assert missing == [], f"docs/architecture.md names modules that do not exist: {missing}"
