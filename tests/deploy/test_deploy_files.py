"""deploy/: Caddy and systemd accept their files, every unit, timer, compose service and image
role runs a real lifecert command, and the package runs installed (not editable) with the web
pages from LIFECERT_STATIC_DIR, as in the image."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from app.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"


def _commands() -> set[str]:
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in cli.registered_commands}
    return names | {g.name for g in cli.registered_groups if g.name}


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )


def test_caddy_validates_the_caddyfile() -> None:
    assert shutil.which("caddy"), "Caddy is needed: apt-get install caddy"
    done = _run(
        ["caddy", "validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        env={**os.environ, "LIFECERT_SITE": "lifecert.example.org", "HOME": "/tmp"},
    )
    assert done.returncode == 0 and "Valid configuration" in done.stdout + done.stderr, done.stderr
    formatted = _run(["caddy", "fmt", str(DEPLOY / "Caddyfile")])
    assert formatted.stdout == (DEPLOY / "Caddyfile").read_text(), "run caddy fmt --overwrite"


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    # As installed: the units under /etc/systemd/system, lifecert in its virtual environment.
    assert shutil.which("systemd-analyze"), "systemd-analyze is needed (package systemd)"
    (tmp_path / "lib/systemd").mkdir(parents=True)
    shutil.copytree("/lib/systemd/system", tmp_path / "lib/systemd/system", symlinks=True)
    binary = tmp_path / "opt/lifecert/venv/bin/lifecert"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    installed = tmp_path / "etc/systemd/system"
    installed.mkdir(parents=True)
    units = sorted(p.name for p in UNITS.iterdir() if p.suffix in (".service", ".timer"))
    for name in units:
        shutil.copy(UNITS / name, installed / name)
    done = _run(
        ["systemd-analyze", "verify", "--man=no", f"--root={tmp_path}"]
        + [str(installed / name) for name in units],
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""
    # A timer per periodic command, each starting its own service.
    for timer in ("lifecert-schedule", "lifecert-call-reminders"):
        assert (UNITS / f"{timer}.timer").exists() and (UNITS / f"{timer}.service").exists()


def _lifecert_args(text: str) -> list[list[str]]:
    return [
        line.split("/lifecert ", 1)[1].split()
        for line in text.splitlines()
        if line.startswith(("ExecStart=", "ExecStartPre=")) and "/lifecert " in line
    ]


def test_units_compose_and_image_run_the_same_real_commands(tmp_path: Path) -> None:
    commands = _commands()
    by_unit = {
        unit.stem: _lifecert_args(unit.read_text())
        for unit in UNITS.iterdir()
        if unit.suffix == ".service"
    }
    assert by_unit == {
        "lifecert-api": [
            ["migrate"],
            ["serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"],
        ],
        "lifecert-worker": [
            [
                "worker",
                *("--processes", "2", "--metrics-port", "9464"),
                *("--metrics-address", "${LIFECERT_WORKER_METRICS_ADDRESS}"),
            ]
        ],
        "lifecert-schedule": [["run-schedule"]],
        "lifecert-call-reminders": [["call-reminders"]],
    }
    assert {args[0] for runs in by_unit.values() for args in runs} <= commands

    # The image's roles, run with a stand-in lifecert that prints what it was asked.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lifecert").write_text('#!/bin/sh\necho "lifecert $*"\n')
    (bin_dir / "lifecert").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def role(*args: str) -> str:
        done = _run(["sh", str(DEPLOY / "docker-entrypoint.sh"), *args], env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert (
        role("serve") == "lifecert migrate\nlifecert serve --host 0.0.0.0 --port 8000 --workers 2"
    )
    assert role() == role("serve")
    assert role("worker") == "lifecert worker --processes 2"
    assert role("run-schedule") == "lifecert run-schedule"
    assert role("backup", "/backups/x") == "lifecert backup /backups/x"

    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert services["api1"]["command"] == services["api2"]["command"] == ["serve"]
    assert services["worker"]["command"] == ["worker"]
    loops = {
        name: " ".join(services[name]["entrypoint"]) for name in ("schedule", "call-reminders")
    }
    assert "lifecert run-schedule;" in loops["schedule"]
    assert "lifecert call-reminders;" in loops["call-reminders"]
    assert services["api1"]["environment"]["LIFECERT_SIGNALLING"] == "redis"

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install --no-cache-dir \.(\s|$)", dockerfile)
    assert " -e " not in dockerfile and "--editable" not in dockerfile
    assert "HEALTHCHECK" in dockerfile and '"lifecert-entrypoint", "healthcheck"' in dockerfile
    assert 'ENTRYPOINT ["lifecert-entrypoint"]' in dockerfile


def _install_like_a_wheel(target: Path) -> None:
    """What a non-editable install puts in site-packages, by the project's own packaging
    settings: the packages found, their modules and their package data (the checkout's
    setuptools is too old to build a wheel here without a download)."""
    import tomllib

    from setuptools import find_packages

    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data = tool.get("package-data", {})
    for package in find_packages(str(ROOT), include=tool["packages"]["find"]["include"]):
        source = ROOT / package.replace(".", "/")
        files = list(source.glob("*.py"))
        for pattern in data.get(package, []):
            files += list(source.glob(pattern))
        for file in files:
            destination = target / file.relative_to(ROOT)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(file, destination)


def test_the_installed_package_serves_without_the_checkout(tmp_path: Path) -> None:
    target = tmp_path / "site"
    _install_like_a_wheel(target)
    assert list((target / "migrations" / "versions").glob("*.py"))
    assert not (target / "static").exists()  # the pages are not in the package
    pages = tmp_path / "static"
    shutil.copytree(ROOT / "static", pages)
    script = f"""
import app, migrations
assert app.__file__.startswith({str(target)!r}), app.__file__
assert migrations.__file__.startswith({str(target)!r}), migrations.__file__
from pathlib import Path
from starlette.testclient import TestClient
from app.config import Settings
from app.main import create_app
from app.migrate import upgrade
settings = Settings(data_dir=Path({str(tmp_path / "var")!r}), static_dir=Path({str(pages)!r}))
settings.ensure_dirs()
upgrade(settings.resolved_database_url)
with TestClient(create_app(settings)) as client:
    assert client.get("/readyz").json()["database"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower(), page.text[:200]
print("installed ok")
"""
    done = _run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
    )
    assert done.returncode == 0 and "installed ok" in done.stdout, done.stdout + done.stderr
