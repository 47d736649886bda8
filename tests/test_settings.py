"""Settings come from the config file, then the environment, then the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from threadline.settings_loading import ConfigError, load_settings


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


@pytest.mark.parametrize(("given", "level"), [("WARN", "warning"), ("Debug", "debug")])
def test_log_level_takes_any_case_and_warn(tmp_path: Path, given: str, level: str) -> None:
    assert load_settings(_config(tmp_path, "t.toml", ""), log_level=given).log_level == level


def test_an_unknown_log_level_is_a_config_error_naming_the_levels(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'warning'"):
        load_settings(_config(tmp_path, "t.toml", ""), log_level="loud")


def test_a_short_admin_key_is_refused_saying_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 24 characters") as refused:
        load_settings(_config(tmp_path, "t.toml", 'admin_key = "tiny-secret"'))
    assert "tiny-secret" not in str(refused.value)  # the message never holds the secret
    long_enough = "k" * 24
    given = load_settings(_config(tmp_path, "t.toml", f'admin_key = "{long_enough}"'))
    assert given.admin_key is not None
    assert given.admin_key.get_secret_value() == long_enough


def _config(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_misspelt_setting_names_the_file_and_the_closest_known_name(tmp_path: Path) -> None:
    config = _config(tmp_path, "threadline.toml", 'databse_url = "sqlite:///x.db"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert str(raised.value) == (
        f"unknown setting 'databse_url' in {config} (did you mean 'database_url'?)"
    )


def test_a_misspelt_provider_key_names_the_provider_and_the_closest_key(tmp_path: Path) -> None:
    config = _config(
        tmp_path, "threadline.yaml", "providers:\n  local:\n    base_ur: http://x/v1\n"
    )
    with pytest.raises(ConfigError, match=r"'base_ur' of \[providers.local\] in .*'base_url'"):
        load_settings(config)


def test_config_syntax_errors_name_the_file_and_the_line(tmp_path: Path) -> None:
    toml = _config(tmp_path, "bad.toml", "port = 1\nhost = \n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(toml))} is not valid TOML: .*line 2"):
        load_settings(toml)
    yaml_file = _config(tmp_path, "bad.yaml", "port: [1\nhost: x\n")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(yaml_file))} is not valid YAML: .*line 2"
    ):
        load_settings(yaml_file)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nothere.toml does not exist"):
        load_settings(tmp_path / "nothere.toml")


def test_a_bad_value_names_the_setting_and_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, "threadline.toml", 'port = "eighty"\n')
    with pytest.raises(ConfigError, match=rf"invalid setting 'port' in {re.escape(str(config))}:"):
        load_settings(config)
    monkeypatch.setenv("THREADLINE_PORT", "ninety")
    with pytest.raises(ConfigError, match="invalid setting 'port' in THREADLINE_PORT:"):
        load_settings()


def test_an_unknown_default_provider_is_refused_naming_the_declared_ones(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "threadline.toml",
        'default_provider = "olama"\n[providers.ollama]\nbase_url = "http://localhost:11434/v1"\n'
        '[providers.groq]\nbase_url = "https://api.groq.com/openai/v1"\n',
    )
    with pytest.raises(
        ConfigError, match=r"default_provider 'olama' .* \(declared: 'ollama', 'groq'\)"
    ):
        load_settings(config)


def test_declared_providers_win_over_the_openai_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://elsewhere/v1")
    config = _config(
        tmp_path,
        "threadline.toml",
        '[providers.ollama]\nbase_url = "http://localhost:11434/v1"\n'
        '[providers.groq]\nbase_url = "https://api.groq.com/openai/v1"\n',
    )
    settings = load_settings(config)
    assert list(settings.providers) == ["ollama", "groq"]
    assert settings.default_provider is None
