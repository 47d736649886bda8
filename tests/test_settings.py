"""Settings come from the config file, then the environment, then the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.settings import load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "THREADLINE_CONFIG", "THREADLINE_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_openai_environment_alone_makes_the_default_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    settings = load_settings()
    assert settings.default_provider == "openai"
    assert settings.providers["openai"].base_url == "http://localhost:11434/v1"
    assert settings.providers["openai"].resolved_api_key() is None


def test_toml_config_declares_several_providers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_KEY", "gsk-secret")
    config = tmp_path / "threadline.toml"
    config.write_text(
        'default_provider = "ollama"\nport = 9000\n'
        '[providers.ollama]\nbase_url = "http://localhost:11434/v1"\n'
        '[providers.groq]\nbase_url = "https://api.groq.com/openai/v1"\napi_key_env = "GROQ_KEY"\n'
    )
    settings = load_settings(config)
    assert settings.default_provider == "ollama"
    assert settings.port == 9000
    assert settings.providers["groq"].resolved_api_key() == "gsk-secret"
    assert "gsk-secret" not in repr(settings)


def test_yaml_config_is_read_too(tmp_path: Path) -> None:
    config = tmp_path / "threadline.yaml"
    config.write_text("providers:\n  local:\n    base_url: http://127.0.0.1:8000/v1\n")
    settings = load_settings(config)
    assert settings.default_provider == "local"


def test_environment_beats_the_file_and_options_beat_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "threadline.toml"
    config.write_text("port = 9000\nhost = '0.0.0.0'\n")
    monkeypatch.setenv("THREADLINE_PORT", "9100")
    assert load_settings(config).port == 9100
    assert load_settings(config).host == "0.0.0.0"
    assert load_settings(config, port=9200).port == 9200


def test_unknown_setting_in_the_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "threadline.toml"
    config.write_text("prot = 9000\n")
    with pytest.raises(ValueError, match="prot"):
        load_settings(config)
