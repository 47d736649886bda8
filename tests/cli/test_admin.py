"""The operator's commands: `db status|backup|sweep`, `models`, `config show`, `doctor`, `keys`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.cli.conftest import MODEL, Cli
from tests.live_server import LiveServer, free_port


def _populate(cli: Cli) -> None:
    cli.local("chat", "-m", MODEL, input="one\ntwo\n")


def test_db_status_reports_location_schema_and_rows_without_changing_anything(cli: Cli) -> None:
    missing = cli.local("db", "status", code=1)
    assert "does not exist yet" in missing.stdout
    assert not cli.db.exists()

    _populate(cli)
    report = json.loads(cli.local("db", "status", "--json").stdout)
    assert report["kind"] == "sqlite" and report["path"] == str(cli.db)
    assert report["up_to_date"] is True and report["size_bytes"] > 0
    assert report["rows"]["responses"] == 2 and report["rows"]["conversations"] == 1
    table = cli.local("db", "status").stdout
    assert "up to date" in table and "conversations" in table


def test_db_backup_writes_a_consistent_copy(cli: Cli, tmp_path: Path) -> None:
    _populate(cli)
    target = tmp_path / "backup.db"
    done = cli.local("db", "backup", str(target))
    assert f"to {target}" in done.stdout
    with sqlite3.connect(target) as copy:
        assert copy.execute("select count(*) from responses").fetchone()[0] == 2
    again = cli.local("db", "backup", str(target), code=2)
    assert "--force" in again.stderr
    cli.local("db", "backup", str(target), "--force")
    assert cli.local("db", "backup", str(cli.db), "--force", code=2).stderr


def test_db_backup_refuses_what_it_cannot_copy(cli: Cli, tmp_path: Path) -> None:
    assert "no database" in cli.local("db", "backup", str(tmp_path / "b.db"), code=1).stderr
    memory = cli("db", "backup", str(tmp_path / "b.db"), "--db", "memory://", code=1)
    assert "SQLite" in memory.stderr


def test_db_sweep_runs_retention_by_hand(cli: Cli) -> None:
    _populate(cli)
    off = cli.local("db", "sweep", code=2)
    assert "retention is off" in off.stderr
    kept = json.loads(cli.local("db", "sweep", "--response-retention", "3600", "--json").stdout)
    assert kept == {
        "expired_conversations": 0,
        "deleted_responses": 0,
        "abandoned_turns": 0,
        "deleted_chat_completions": 0,
    }
    done = cli.local("db", "sweep", "--response-retention", "0", "--conversation-idle-ttl", "0")
    assert "2 responses and 0 chat completions deleted, 1 conversations expired" in done.stdout
    listed = json.loads(cli.local("conversations", "list", "--json").stdout)["data"]
    assert listed[0]["status"] == "expired"  # conversations and their items stay


def test_models_lists_configured_providers_and_their_models(cli: Cli, tmp_path: Path) -> None:
    rows = json.loads(cli("models", "--json").stdout)
    assert rows == [
        {
            "provider": "openai",
            "default": True,
            "base_url": cli.env["OPENAI_BASE_URL"],
            "models": ["fake-model", "fake-vision", "fake-reasoner"],
        }
    ]
    config = tmp_path / "threadline.toml"
    config.write_text(
        'default_provider = "openai"\n'
        f'[providers.openai]\nbase_url = "{cli.env["OPENAI_BASE_URL"]}"\n'
        f'[providers.local]\nbase_url = "{cli.env["OPENAI_BASE_URL"]}"\nmodels = ["tiny"]\n'
    )
    table = cli("models", "--config", str(config)).stdout
    assert "local/tiny" in table and "fake-model" in table

    cli.env.update(OPENAI_BASE_URL=None, OPENAI_API_KEY=None)
    none = cli("models", code=1)
    assert "no provider is configured" in none.stderr and "OPENAI_API_KEY" in none.stderr


def test_models_against_a_server_lists_what_it_serves(cli: Cli, server: LiveServer) -> None:
    names = json.loads(cli("models", "--base-url", server.url, "--json").stdout)
    assert names == ["fake-model", "fake-vision", "fake-reasoner"]


def test_config_show_masks_secrets_and_says_where_each_setting_came_from(
    cli: Cli, tmp_path: Path
) -> None:
    config = tmp_path / "threadline.toml"
    config.write_text(
        "port = 9999\n[providers.vault]\n"
        'base_url = "http://127.0.0.1:1/v1"\napi_key = "file-secret"\n'
        'headers = { Authorization = "Bearer header-secret", "X-Title" = "demo" }\n'
    )
    cli.env["THREADLINE_SWEEP_INTERVAL"] = "5"
    shown = cli("config", "show", "--config", str(config), "--db", "memory://")
    assert "upstream-secret" not in shown.stdout and "file-secret" not in shown.stdout
    assert "header-secret" not in shown.stdout
    rows = json.loads(
        cli("config", "show", "--config", str(config), "--db", "memory://", "--json").stdout
    )["settings"]
    assert rows["port"] == {"value": 9999, "source": "file"}
    assert rows["sweep_interval"] == {"value": 5.0, "source": "env THREADLINE_SWEEP_INTERVAL"}
    assert rows["database_url"] == {"value": "memory://", "source": "option"}
    assert rows["host"]["source"] == "default"
    assert rows["providers.vault.api_key"]["value"] == "********"
    assert rows["providers.vault.headers"]["value"] == {
        "Authorization": "********",
        "X-Title": "demo",
    }
    assert "providers.openai.base_url" not in rows  # the file declares providers: they win
    implicit = json.loads(cli("config", "show", "--db", "memory://", "--json").stdout)["settings"]
    assert implicit["providers.openai.api_key"] == {"value": "********", "source": "env OPENAI_*"}


def test_config_show_refuses_a_broken_config_file(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("port = \n")
    cli("config", "show", "--config", str(broken), code=2)


def test_doctor_passes_on_a_working_setup(cli: Cli) -> None:
    _populate(cli)
    done = cli.local("doctor")
    assert "✓ database" in done.stdout and "✓ provider openai" in done.stdout
    checks = {c["name"]: c for c in json.loads(cli.local("doctor", "--json").stdout)}
    assert checks["schema"]["level"] == "ok"
    assert checks["api keys"]["level"] == "info"  # open server: worth saying, not a failure


def test_doctor_says_what_to_fix_when_the_provider_is_unreachable(cli: Cli) -> None:
    cli.env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{free_port()}/v1"
    done = cli.local("doctor", code=1)
    assert "✗ provider openai: cannot connect" in done.stdout
    assert "fix: start the model server" in done.stdout
    assert "1 problem(s) found" in done.stderr


def test_doctor_finds_a_missing_key_variable_and_a_missing_provider(
    cli: Cli, tmp_path: Path
) -> None:
    config = tmp_path / "threadline.toml"
    config.write_text(
        "[providers.remote]\n"
        f'base_url = "{cli.env["OPENAI_BASE_URL"]}"\napi_key_env = "THREADLINE_TEST_UNSET_KEY"\n'
    )
    cli.env.update(OPENAI_BASE_URL=None, OPENAI_API_KEY=None)
    checks = {
        c["name"]: c
        for c in json.loads(cli.local("doctor", "--config", str(config), "--json", code=1).stdout)
    }
    assert "THREADLINE_TEST_UNSET_KEY" in checks["provider remote"]["detail"]
    assert checks["database"]["level"] == "warn"  # not created yet: a start-up creates it

    config.write_text('default_provider = "nowhere"\n' + config.read_text())
    done = cli.local("doctor", "--config", str(config), code=1)
    assert "✗ config: default_provider 'nowhere'" in done.stdout
    assert "(declared: 'remote')" in done.stdout


def test_doctor_without_any_provider_fails_with_the_way_out(cli: Cli) -> None:
    cli.env.update(OPENAI_BASE_URL=None, OPENAI_API_KEY=None)
    done = cli.local("doctor", code=1)
    assert "no provider is configured" in done.stdout and "OPENAI_API_KEY" in done.stdout


def test_doctor_says_a_queue_only_process_needs_another_to_run_background_responses(
    cli: Cli,
) -> None:
    cli.env["THREADLINE_BACKGROUND_CONCURRENCY"] = "0"
    checks = {c["name"]: c for c in json.loads(cli.local("doctor", "--json").stdout)}
    assert checks["background"]["level"] == "warn"
    assert "another process sharing this database" in checks["background"]["detail"]
    alone = cli("doctor", "--db", "memory://", code=1)
    assert "✗ background: background_concurrency is 0 and memory://" in alone.stdout


def test_keys_create_list_and_revoke(cli: Cli) -> None:
    secret = cli.local("keys", "create", "ci-bot").stdout.strip()
    assert len(secret) > 20
    listed = json.loads(cli.local("keys", "list", "--json").stdout)
    assert [(k["name"], k["tenant"], k["revoked_at"]) for k in listed] == [
        ("ci-bot", "ci-bot", None)
    ]
    assert secret not in cli.local("keys", "list").stdout
    cli.local("keys", "revoke", "ci-bot")
    assert json.loads(cli.local("keys", "list", "--json").stdout)[0]["revoked_at"] is not None
    cli.local("keys", "revoke", "ci-bot", code=1)


def test_an_api_key_is_needed_once_the_server_has_keys(cli: Cli, fresh_server: LiveServer) -> None:
    secret = cli("keys", "create", "alice", "--db", fresh_server.database).stdout.strip()
    remote = ("--base-url", fresh_server.url)
    refused = cli("conversations", "list", *remote, code=1)
    assert "THREADLINE_API_KEY" in refused.stderr
    cli.env["THREADLINE_API_KEY"] = secret
    assert json.loads(cli("conversations", "list", "--json", *remote).stdout)["data"] == []


def test_help_explains_every_command(cli: Cli) -> None:
    top = cli("--help").stdout
    for command in ("chat", "conversations", "responses", "models", "keys", "db", "config"):
        assert command in top
    assert "/export FILE" in cli("chat", "--help").stdout
    assert "THREADLINE_URL" in cli("conversations", "list", "--help").stdout


def test_encryption_keys_are_made_checked_and_reencrypt_seals_what_was_stored(
    cli: Cli,
) -> None:
    entry = cli("db", "encryption-key", "--id", "k1").stdout.strip()
    assert entry.startswith("k1:") and len(entry) == len("k1:") + 43
    assert "bad id" in cli("db", "encryption-key", "--id", "bad id", code=2).stderr
    checks = {c["name"]: c for c in json.loads(cli.local("doctor", "--json").stdout)}
    assert checks["encryption"]["level"] == "info"
    refused = cli.local("db", "reencrypt", code=2)
    assert "no encryption key is set" in refused.stderr

    _populate(cli)  # in the clear
    cli.env["THREADLINE_ENCRYPTION_KEYS"] = entry
    checks = {c["name"]: c for c in json.loads(cli.local("doctor", "--json").stdout)}
    assert checks["encryption"]["detail"] == "new content sealed under 'k1' (ring: k1)"
    done = json.loads(cli.local("db", "reencrypt", "--json").stdout)
    assert done["key"] == "k1" and done["resealed"]["items"] == 4
    assert done["resealed"]["responses"] == 2
    again = json.loads(cli.local("db", "reencrypt", "--json").stdout)
    assert set(again["resealed"].values()) == {0}
    with sqlite3.connect(cli.db) as raw:
        stored = [row[0] for row in raw.execute("select data from items")]
    assert all(data.startswith("tle1:k1:") for data in stored)
    assert '"two"' in cli.local("export").stdout  # and read back through the key

    cli.env["THREADLINE_ENCRYPTION_KEYS"] = "k1:" + "A" * 10
    broken = cli.local("db", "status", code=2)
    assert "encryption key 'k1' must be 32 bytes" in broken.stderr
    assert "AAAAAAAAAA" not in broken.stderr
