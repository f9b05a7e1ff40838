"""Packaging (issue 15 item 7): an SPDX licence, the extras split by what they are for, a typed package."""

import tomllib
from importlib import metadata
from pathlib import Path

import scalinglab

ROOT = Path(__file__).resolve().parents[1]


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_licence_is_an_spdx_expression():
    assert _project()["license"] == "MIT"
    assert metadata.metadata("scalinglab")["License-Expression"] == "MIT"


def test_extras_are_split_by_purpose():
    extras = {k: " ".join(v) for k, v in _project()["optional-dependencies"].items()}
    assert set(extras) >= {"lab", "ray", "trackers", "notebook", "test"}
    assert "torch" in extras["lab"] and "ray" not in extras["lab"]  # 240 MB of ray is its own extra
    assert "ray" in extras["ray"] and "nbclient" in extras["notebook"]
    core = " ".join(_project()["dependencies"])
    assert "torch" not in core and "ray" not in core


def test_package_is_typed():
    assert (Path(scalinglab.__file__).parent / "py.typed").is_file()
    assert "py.typed" in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["scalinglab"]
