"""This repository is laid out as the patch repo `init` makes; its copies of the
templates must not drift from what `init` writes."""

from __future__ import annotations

from pathlib import Path

from verda_patch.config import load
from verda_patch.scaffold import dockerfile, template

ROOT = Path(__file__).resolve().parent.parent


def test_apply_script_is_the_template():
    assert (ROOT / "scripts/apply_patch.sh").read_bytes() == template("apply_patch.sh")


def test_nova_dockerfile_is_what_init_writes():
    assert (ROOT / "dockerfiles/nova/Dockerfile").read_bytes() == dockerfile("nova")


def test_top_level_base_commit_loads():
    config = load(ROOT)
    assert config.project("nova").ref == "31.0.0"
