"""The files in deploy/ cannot drift from the code: they are not run here (no Docker), so what
can be checked without Docker is checked: settings they set exist, paths they copy exist, and
docs/deployment.md describes each of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from threadline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE_FILES = sorted(DEPLOY.glob("compose.*.yaml"))


def _threadline_variables(text: str) -> set[str]:
    return set(re.findall(r"\bTHREADLINE_([A-Z_]+)\b", text))


@pytest.mark.parametrize("path", [*COMPOSE_FILES, DEPLOY / "Dockerfile"], ids=lambda p: p.name)
def test_every_threadline_variable_in_deploy_files_is_a_setting(path: Path) -> None:
    names = _threadline_variables(path.read_text(encoding="utf-8"))
    assert names, f"{path.name} sets no THREADLINE_* variable"
    for name in names:
        assert name.lower() in Settings.model_fields, f"{path.name}: THREADLINE_{name} is unknown"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_files_build_threadline_and_wait_for_a_healthy_database(path: Path) -> None:
    services = yaml.safe_load(path.read_text(encoding="utf-8"))["services"]
    threadline = services["threadline"]
    assert threadline["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    (database,) = threadline["depends_on"]
    assert threadline["depends_on"][database] == {"condition": "service_healthy"}
    assert "healthcheck" in services[database]
    url = threadline["environment"]["THREADLINE_DATABASE_URL"]
    assert f"@{database}:" in url or f"//{database}:" in url


def test_the_dockerfile_copies_only_paths_that_exist() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    copied = [
        source
        for line in dockerfile.splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    ]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), f"deploy/Dockerfile copies {source}, which is missing"
    assert 'ENTRYPOINT ["threadline"]' in dockerfile


def test_the_deployment_page_describes_every_deploy_file() -> None:
    page = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for path in [DEPLOY / "Dockerfile", *COMPOSE_FILES]:
        assert f"deploy/{path.name}" in page, f"docs/deployment.md does not mention {path.name}"
