"""Hostile suite files: alias bombs, self-references, repeated keys, deep nesting, huge scalars and
random bytes give exit 0 or a file:line error from `harness plan`, quickly, never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from harness.cli import main
from harness.config.load import load_suite
from tests.strategies import VALID_SUITE_LINES, hostile_yaml, yaml_alias_bomb

SUITE = "\n".join(VALID_SUITE_LINES) + "\n"


def plan(path: Path) -> tuple[int, str]:
    """`harness plan PATH` in this process: its exit code and what it wrote to stderr."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["plan", str(path)])
    return code, err.getvalue()


def write(tmp_path: Path, text: str | bytes) -> Path:
    """Write a suite file and return its path."""
    path = tmp_path / "suite.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# Run in a child process under a 2 GB address-space cap, so that a regression fails this test
# instead of eating the machine (the bomb below is 9**9 = 387 million nodes expanded).
CHILD = """
import json, resource, sys, time
from harness.cli import main
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
code = main(["plan", sys.argv[1]])
print(json.dumps({"code": code, "seconds": time.monotonic() - started,
                  "growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before}))
"""


def _cap_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_alias_bomb_is_refused_quickly_in_bounded_memory(tmp_path):
    """The billion laughs stops within seconds, growing RSS by under 50 MB, with file:line."""
    path = write(tmp_path, SUITE + yaml_alias_bomb(width=9, levels=8) + "\n")
    child = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                           text=True, timeout=60, preexec_fn=_cap_memory,
                           cwd=Path(__file__).parent.parent)
    assert "Traceback" not in child.stderr
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    assert measured["code"] == 2
    assert measured["seconds"] < 5
    assert measured["growth_kib"] < 50_000
    assert f"{path}:" in child.stderr and "too many aliased nodes" in child.stderr


def test_alias_bomb_names_the_line_that_crosses_the_limit(tmp_path):
    """The error points at the alias whose expansion passes the limit (here line 9, lol4)."""
    code, err = plan(write(tmp_path, SUITE + yaml_alias_bomb(width=10, levels=6) + "\n"))
    assert code == 2
    assert err.startswith(f"error: {tmp_path / 'suite.yaml'}:9: too many aliased nodes")


def test_small_aliases_and_merge_keys_still_work(tmp_path):
    """Anchors reused a few times, and a `<<:` merge overridden by an explicit key, still load."""
    text = """suite: prop
base:
  model: {preset: tiny}
  train: {lr: &lr 1e-3, max_steps: 10}
axes:
  train.lr: [*lr, 3e-4]
runs:
  - &long {train.max_steps: 20, train.seed: 1}
  - {<<: *long, train.seed: 2}
"""
    suite = load_suite(write(tmp_path, text))
    assert [run.slug for run in suite.runs] == ["baseline", "lr=3e-4", "max_steps=20,seed=1",
                                                "max_steps=20,seed=2"]


def test_self_referencing_alias_is_a_file_line_error(tmp_path):
    """`base: &r {data: *r}` is reported at the alias's line, not as a RecursionError."""
    path = write(tmp_path, "suite: s\nbase: &r\n  data: *r\n")
    code, err = plan(path)
    assert code == 2
    assert err == (f"error: {path}:3: alias *r refers to the value that contains it "
                   "(a cycle); aliases may only repeat a value defined before\n")


def test_duplicate_keys_are_file_line_errors_naming_both_lines(tmp_path):
    """A repeated key is an error naming the key, its line and the line of its first use."""
    path = write(tmp_path, "suite: s\nbase:\n  model: {preset: tiny}\n"
                           "  train: {lr: 1e-3, lr: 1e-1, max_steps: 10}\n"
                           "axes:\n  train.lr: [1e-3, 3e-4]\n  train.seed: [1]\n"
                           "  train.lr: [1e-3]\n")
    code, err = plan(path)
    assert code == 2
    assert err.splitlines() == [
        "error:",
        f"{path}:4: duplicate key 'lr' (first given at line 4, column 11): give each key once",
        f"{path}:8: duplicate key 'train.lr' (first given at line 6): give each key once",
    ]


def test_keys_equal_once_read_are_duplicates(tmp_path):
    """Two spellings of one key (`1` and `0x1`) would also overwrite each other: an error."""
    path = write(tmp_path, "suite: s\nbase:\n  1: a\n  0x1: b\n")
    code, err = plan(path)
    assert code == 2
    assert f"{path}:4: duplicate key '0x1' (first given at line 3)" in err


def test_deep_nesting_is_a_file_line_error(tmp_path):
    """Nesting past 32 levels, written out or through aliases, is refused at its line."""
    path = write(tmp_path, "suite: s\nbase:\n  data: " + "[" * 500 + "]" * 500 + "\n")
    code, err = plan(path)
    assert code == 2
    assert err == f"error: {path}:3: nested more than 32 levels deep\n"
    levels = "".join(f"d{n}: &d{n} [*d{n - 1}]\n" for n in range(1, 40))
    path = write(tmp_path, "d0: &d0 [x]\n" + levels)
    code, err = plan(path)
    assert code == 2
    assert err == (f"error: {path}:32: nested more than 32 levels deep "
                   "(once aliases are expanded)\n")


def test_values_python_cannot_read_are_file_line_errors(tmp_path):
    """An impossible date and a 5,000-digit integer are reported at their line."""
    path = write(tmp_path, "suite: s\nbase:\n  when: 2024-13-45\n")
    code, err = plan(path)
    assert code == 2
    assert err == (f"error: {path}:3: invalid YAML: cannot read this value: "
                   "month must be in 1..12\n")
    path = write(tmp_path, "suite: s\nbase:\n  train: {seed: " + "9" * 5000 + "}\n")
    code, err = plan(path)
    assert code == 2
    assert err.startswith(f"error: {path}:3: invalid YAML: cannot read this value: ")


def test_huge_values_in_messages_are_shortened(tmp_path):
    """A 100,000-character value is quoted in a message by its start and its length."""
    path = write(tmp_path, "suite: s\nbase:\n  model: {preset: tiny}\n  train: {lr: "
                 + "x" * 100_000 + ", max_steps: 10}\n")
    code, err = plan(path)
    assert code == 2
    assert len(err) < 400
    assert "(100000 characters)" in err


def test_a_directory_or_unreadable_name_in_extends_is_a_file_line_error(tmp_path):
    """`extends: .` and a name with a NUL byte are reported at the extends line."""
    for target, message in ((".", "not a file"), ("\\0", "not a file name")):
        path = write(tmp_path, f'suite: s\nextends: "{target}"\n')
        code, err = plan(path)
        assert code == 2
        assert err.startswith(f"error: {path}:2: extends: {message}")


# --- the property ----------------------------------------------------------------------------

WHERE = re.compile(r"(?P<file>.+?)(?::(?P<line>\d+))?: ")


@settings(max_examples=300, deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(content=hostile_yaml())
def test_any_yaml_gives_a_plan_or_a_file_line_error(content):
    """Whatever the bytes, `harness plan` exits 0 or 2, on 2 naming the file (and a line where
    there is one), in bounded time, and never raises."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "suite.yaml"
        path.write_bytes(content)
        started = time.monotonic()
        code, err = plan(path)
        assert time.monotonic() - started < 5
    assert code in (0, 2)
    if code == 0:
        return
    lines = err.removeprefix("error:").strip().splitlines()
    assert lines
    for line in lines:
        assert line.removeprefix("error: ").startswith(f"{path}"), line
    if "invalid YAML" in err or "alias" in err or "duplicate key" in err or "nested" in err:
        assert re.search(rf"{re.escape(str(path))}:\d+: ", err), err
