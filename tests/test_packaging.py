"""The setup files agree with each other, and CI runs what the README says."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch-cpu": "torch"}  # conda-forge names that differ from PyPI's


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower()


def pyproject_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {requirement_name(s) for s in specs}


def conda_names(path: Path) -> set[str]:
    names = set()
    for dep in yaml.safe_load(path.read_text())["dependencies"]:
        if isinstance(dep, dict):  # the pip: section
            names |= {requirement_name(s) for s in dep["pip"] if not s.startswith("-e")}
        elif requirement_name(dep) not in ("python", "pip"):
            names.add(CONDA_TO_PIP.get(requirement_name(dep), requirement_name(dep)))
    return names


def test_environment_files_name_the_same_packages_as_pyproject():
    assert conda_names(ROOT / "environment.yml") == pyproject_names()
    assert conda_names(ROOT / "binder" / "environment.yml") == pyproject_names()


def test_conda_routes_use_cpu_pytorch_from_conda_forge():
    for path in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        env = yaml.safe_load(path.read_text())
        assert env["channels"][0] == "conda-forge"
        assert "pytorch-cpu>=2.2" in env["dependencies"]


def test_binder_installs_mmlab_itself():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "set -e" in post_build and "pip install --no-deps -e ." in post_build
    assert "-e ." in str(yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"])


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == "make test"


def test_command_is_installed_as_mmlab():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"mmlab": "mmlab.cli:main"}


def test_binder_culls_kernels_left_by_closed_tabs():
    # The settings must be ones Jupyter Server knows: a misspelt trait is silently ignored.
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager
    from traitlets.config import Config

    config = Config()
    exec((ROOT / "binder" / "jupyter_server_config.py").read_text(), {"get_config": lambda: config})
    manager = MappingKernelManager(config=config)
    assert manager.cull_idle_timeout == 600 and manager.cull_interval == 60
    assert not manager.cull_connected and not manager.cull_busy
    assert set(config.MappingKernelManager) <= set(manager.trait_names())
    assert "jupyter_server_config.py ~/.jupyter/" in (ROOT / "binder" / "postBuild").read_text()
