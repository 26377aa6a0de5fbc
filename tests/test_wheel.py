"""A wheel of the project, installed outside the repository, plans the default suite: the
stand-in checkpoint it names (standin:tiny) ships inside the package."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from harness.config.load import load_suite

REPO = Path(__file__).resolve().parents[1]


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the sources, so the build leaves nothing in the working tree."""
    source = tmp_path / "source"
    shutil.copytree(REPO / "harness", source / "harness",
                    ignore=shutil.ignore_patterns("__pycache__", "*.lock"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(source)], check=True)
    (wheel,) = out.glob("harness-*.whl")
    return wheel


def _venv_with_wheel(tmp_path: Path, wheel: Path) -> Path:
    """A fresh venv holding the wheel; its dependencies (torch, transformers, ...) are read from
    this interpreter's site-packages through a .pth line, so nothing is downloaded."""
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    (purelib,) = (env / "lib").glob("python*/site-packages")
    # A plain path line adds the directory without running its .pth files: the editable install
    # of the repository that lives there is not picked up.
    (purelib / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"),
                    "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True)
    return env


def test_wheel_installed_elsewhere_plans_the_default_suite(tmp_path):
    """The wheel carries the stand-in checkpoint; from a directory that is not the repository,
    the installed harness (not the checkout) plans ablations/default.yaml with the run ids the
    checkout plans (the checkpoint's weights are found and hashed there too)."""
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/checkpoints/tiny-standin/model.safetensors" in names
    env = _venv_with_wheel(tmp_path, wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    suite = shutil.copy(REPO / "ablations" / "default.yaml", elsewhere / "default.yaml")
    clean = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    where = subprocess.run([str(env / "bin" / "python"), "-c",
                            "import harness, harness.standins as s; print(harness.__file__);"
                            "print(s.standin_directory('standin:tiny'))"],
                           cwd=elsewhere, env=clean, capture_output=True, text=True, check=True)
    package, standin = where.stdout.split()
    assert Path(package).is_relative_to(env) and Path(standin).is_relative_to(env)
    plan = subprocess.run([str(env / "bin" / "harness"), "plan", str(suite)], cwd=elsewhere,
                          env=clean, capture_output=True, text=True)
    assert plan.returncode == 0, plan.stderr
    # The ids the checkout plans (tests/test_spec.py pins the baseline's): a stand-in that the
    # wheel lacked (no weights to hash) or hashed under another name would give others.
    checkout = load_suite(REPO / "ablations" / "default.yaml")
    assert f"{len(checkout.runs)} runs, mode {checkout.mode}, baseline {checkout.baseline.id}" \
        in plan.stdout
    assert all(f"| {run.id} | {run.slug} " in plan.stdout for run in checkout.runs)
