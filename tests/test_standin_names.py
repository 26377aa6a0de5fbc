"""`model.name_or_path: standin:<name>` names a checkpoint that ships inside the package."""

from __future__ import annotations

import shutil

import pytest

from harness.config.ids import checkpoint_fingerprint, run_id
from harness.config.settings import RunSpec
from harness.errors import UserError
from harness.model.build import build_model
from harness.standins import ROOT, resolve_model_name

BASE = {"data": {"source": "synthetic"}, "train": {"max_steps": 1}}


def _spec(name: str) -> RunSpec:
    return RunSpec.model_validate({**BASE, "model": {"name_or_path": name}})


def test_standin_tiny_is_the_shipped_directory_and_loads():
    """standin:tiny resolves to harness/checkpoints/tiny-standin, which holds weights that load
    with a fresh head."""
    directory = ROOT / "tiny-standin"
    assert resolve_model_name("standin:tiny") == str(directory)
    assert (directory / "model.safetensors").is_file()
    model = build_model(_spec("standin:tiny").model, vocab_size=9, pad_token_id=0)
    assert model.lm_head.out_features == 9


def test_the_same_weights_under_their_old_path_keep_the_run_id(tmp_path, monkeypatch):
    """A copy at checkpoints/tiny-standin (the path stored results were keyed under) has the
    same content hash and so the same run id as standin:tiny; other weights there do not."""
    copy = tmp_path / "checkpoints" / "tiny-standin"
    shutil.copytree(ROOT / "tiny-standin", copy)
    monkeypatch.chdir(tmp_path)
    assert checkpoint_fingerprint("standin:tiny") == checkpoint_fingerprint(str(copy))
    assert run_id(_spec("standin:tiny")) == run_id(_spec("checkpoints/tiny-standin"))
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    assert run_id(_spec("standin:tiny")) != run_id(_spec("checkpoints/tiny-standin"))


def test_an_unknown_standin_is_refused_by_name():
    """standin:huge is not shipped: a UserError names the field, the value and the known ones."""
    with pytest.raises(UserError, match=r"model.name_or_path 'standin:huge'.*standin:tiny"):
        run_id(_spec("standin:huge"))


def test_harness_standin_out_standin_tiny_rebuilds_the_shipped_copy():
    """`harness standin --out standin:tiny` writes where suites naming standin:tiny read."""
    from harness.cli import build_parser

    args = build_parser().parse_args(["standin", "--out", "standin:tiny"])
    assert args.out == ROOT / "tiny-standin"
    assert build_parser().parse_args(["standin", "--out", "ckpt"]).out.name == "ckpt"
