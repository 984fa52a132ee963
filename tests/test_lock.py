"""The locked environment: requirements.lock (hashes) and constraints.txt agree, cover
every dependency sbidic declares, and are what is installed."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _lock() -> dict[str, tuple[str, list[str]]]:
    entries = {}
    text = (ROOT / "requirements.lock").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        pin, *hashes = line.split()
        name, version = pin.split("==")
        entries[_name(name)] = (version, hashes)
    return entries


def test_every_locked_package_has_a_sha256_and_constraints_hold_the_same_versions():
    lock = _lock()
    assert len(lock) > 100
    for name, (_, hashes) in lock.items():
        assert hashes and all(re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", h) for h in hashes), name
    constraints = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            constraints[_name(name)] = version
    assert constraints == {n: v.split("+")[0] for n, (v, _) in lock.items()}
    assert lock["torch"][0] == "2.13.0+cpu" and lock["pyparsing"][0].startswith("3.2")


def test_the_lock_covers_every_declared_dependency_and_matches_what_is_installed():
    lock = _lock()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    for requirement in declared:
        name = _name(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0])
        assert name == "sbidic" or name in lock, f"{requirement} is not locked"
    installed = {}
    for dist in metadata.distributions():
        installed[_name(dist.metadata["Name"])] = dist.version
    for name in ("numpy", "brian2", "torch", "sbi", "pyparsing", "xarray"):
        assert installed[name] == lock[name][0], name
