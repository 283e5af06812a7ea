"""docker-compose.yml matches the real entry points and settings (no Docker engine runs here: the file is parsed).

For every service built from this project's image: its command and its health check are real `jamsos` verbs with
real options, every JAMSOS_* variable is one the code reads, the store/broker URLs parse with the project's own
settings, and every service it depends on exists (with a health check when it waits for health). The Dockerfile
copies every package the project installs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from cli.app import app
from cli.root import subcommands
from eventstore.settings import Settings, StoreSettings
from services.transport import broker_kind

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = {name: svc for name, svc in SERVICES.items() if svc.get("build") == "."}
EXPECTED = {"postgres", "rabbitmq", "nats", "init", "projections", "relay", "consumer", "subscriber", "api"}


def variables_read_by_the_code() -> set[str]:
    found: set[str] = set()
    for folder in ("commands", "eventstore", "projections", "services", "cli", "api"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(re.findall(r"\"(JAMSOS_[A-Z_]+)\"", path.read_text()))
    return found | {f"JAMSOS_{name.upper()}" for name in Settings.model_fields}


def is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def resolve(args: list[str]) -> tuple[Any, list[str]]:
    """Walk the CLI's groups along ``args``; return the command reached and the remaining arguments."""
    command: Any = typer.main.get_command(app)
    rest = list(args)
    while is_group(command) and rest and not rest[0].startswith("-"):
        sub = subcommands(command).get(rest[0])
        assert sub is not None, f"`jamsos {' '.join(args)}`: no verb {rest[0]!r}"
        command, rest = sub, rest[1:]
    assert not is_group(command), f"`jamsos {' '.join(args)}` names a group, not a command"
    return command, rest


def check_cli(args: list[str]) -> None:
    command, rest = resolve(args)
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for token in rest:
        if token.startswith("--"):
            assert token in options, f"`jamsos {' '.join(args)}`: {token} is not an option of {command.name}"
    ctx = command.make_context(command.name or "jamsos", list(rest), resilient_parsing=False)
    assert ctx is not None


def test_every_service_of_the_issue_is_there() -> None:
    assert set(SERVICES) >= EXPECTED
    assert SERVICES["nats"].get("profiles") == ["nats"], "NATS is an optional profile"
    kinds = {tuple(svc["command"][:2]) for svc in OURS.values()}
    verbs = {("init", "--json"), ("project", "run"), ("relay", "run"), ("consumer", "run"), ("subscriber", "run"),
             ("serve", "--host")}
    assert verbs <= kinds


@pytest.mark.parametrize("name", sorted(OURS))
def test_commands_and_health_checks_are_real_verbs(name: str) -> None:
    service = OURS[name]
    check_cli(service["command"])
    health = service.get("healthcheck")
    if service.get("restart") == "unless-stopped":
        assert health, f"{name}: a long-running service needs a health check"
    if health:
        test = health["test"]
        assert test[0] == "CMD" and test[1] == "jamsos", f"{name}: health check must run the real entry point"
        check_cli(test[2:])


@pytest.mark.parametrize("name", sorted(OURS))
def test_environment_matches_the_settings(name: str) -> None:
    env: dict[str, str] = OURS[name].get("environment", {})
    known = variables_read_by_the_code()
    for key, value in env.items():
        assert key in known, f"{name}: {key} is read nowhere in the code"
        if key == "JAMSOS_STORE":
            settings = StoreSettings.from_url(value)
            assert settings.kind == "postgres" and settings.pg_host in SERVICES
        if key == "JAMSOS_BROKER":
            broker_kind(value)
            host = re.sub(r"^.*://(.*@)?", "", value).split(":")[0].split("/")[0]
            assert host in SERVICES, f"{name}: broker host {host} is not a service"
        if key == "JAMSOS_SUBSCRIBER_DB":
            assert value.startswith("sqlite:////data/") and any(v.endswith(":/data") for v in OURS[name]["volumes"])
    if "JAMSOS_KEY_FILE" in env:
        assert any(v.startswith("keys:") for v in OURS[name]["volumes"]), f"{name}: the key file needs the keys volume"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependencies_exist_and_are_healthy_when_awaited(name: str) -> None:
    for dependency, condition in (SERVICES[name].get("depends_on") or {}).items():
        assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
        if condition["condition"] == "service_healthy":
            assert SERVICES[dependency].get("healthcheck"), f"{dependency} has no health check"
        if condition["condition"] == "service_completed_successfully":
            assert SERVICES[dependency].get("restart") == "no"
        profile = SERVICES[dependency].get("profiles")
        if profile:
            assert SERVICES[name].get("profiles") == profile, f"{name} needs {dependency}'s profile"


def test_the_image_holds_every_installed_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    include = re.search(r"include = \[(.*?)\]", pyproject)
    assert include is not None
    for package in re.findall(r"\"(\w+)\*\"", include.group(1)):
        assert f"COPY {package} {package}" in dockerfile, f"Dockerfile does not copy {package}/"
    assert 'ENTRYPOINT ["jamsos"]' in dockerfile
