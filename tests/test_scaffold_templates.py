"""Delivery templates: what `init` scaffolds, the Dockerfile's steps, the CI examples."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_check import Scenario, build
from verda_patch.scaffold import EXAMPLE_DOCKERFILE, dockerfile, init

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTIONS = {"FROM", "RUN", "COPY", "ARG", "ENV", "WORKDIR", "LABEL"}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word, rest.strip()))
    assert not pending, "a continuation line runs off the end"
    return out


def test_init_scaffolds_an_example_dockerfile(tmp_path):
    result = init(tmp_path)
    assert EXAMPLE_DOCKERFILE in result.created
    assert ".dockerignore" in result.created
    text = (tmp_path / EXAMPLE_DOCKERFILE).read_text()
    assert "docker build -f dockerfiles/example/Dockerfile" in text
    assert "copy it to dockerfiles/<project>/Dockerfile" in text
    assert ".verda/" in (tmp_path / ".dockerignore").read_text()


def test_init_makes_one_dockerfile_per_project_and_keeps_existing(tmp_path):
    (tmp_path / "base-commit").write_text(
        "nova:\n  upstream: https://opendev.org/openstack/nova\n  commit: " + "a" * 40 + "\n"
        "neutron:\n  upstream: https://opendev.org/openstack/neutron\n  commit: " + "b" * 40 + "\n"
    )
    mine = tmp_path / "dockerfiles" / "nova" / "Dockerfile"
    mine.parent.mkdir(parents=True)
    mine.write_text("FROM scratch\n")
    result = init(tmp_path)
    assert "dockerfiles/neutron/Dockerfile" in result.created
    assert "dockerfiles/nova/Dockerfile" in result.kept
    assert mine.read_text() == "FROM scratch\n"  # never overwritten
    neutron = (tmp_path / "dockerfiles" / "neutron" / "Dockerfile").read_text()
    assert "scripts/apply_patch.sh neutron" in neutron and "@PROJECT@" not in neutron
    assert not (tmp_path / EXAMPLE_DOCKERFILE).exists()
    again = init(tmp_path)
    assert "dockerfiles/neutron/Dockerfile" in again.kept and not again.created


def test_init_with_a_broken_base_commit_still_scaffolds(tmp_path):
    (tmp_path / "base-commit").write_text("nova: [unclosed\n")
    result = init(tmp_path)
    assert EXAMPLE_DOCKERFILE in result.created


def test_dockerfile_parses_structurally():
    steps = instructions(dockerfile("nova").decode())
    assert {word for word, _ in steps} <= INSTRUCTIONS
    froms = [rest for word, rest in steps if word == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS patched", "${PYTHON_IMAGE}"]
    assert steps[0] == ("ARG", "PYTHON_IMAGE=python:3.12-slim")  # ARG before FROM: global
    runs = [rest for word, rest in steps if word == "RUN"]
    assert any("pip install" in r and "${VERDA_PATCH}" in r for r in runs)
    assert "scripts/apply_patch.sh nova" in runs
    assert ("COPY", "--from=patched /dist/ /opt/verda-patch/") in steps
    assert runs[-1] == "pip install --no-cache-dir /opt/verda-patch/nova.tar.gz"


def test_this_repos_example_dockerfile_is_the_template():
    assert (ROOT / "dockerfiles" / "nova" / "Dockerfile").read_bytes() == dockerfile("nova")


@pytest.fixture
def scenario(make_upstream, make_patch_repo) -> Scenario:
    return build(make_upstream, make_patch_repo)


def test_the_commands_the_dockerfile_runs(scenario, tmp_path):
    """docker is not needed: run the build stage's verda-patch steps as the image would."""
    repo = scenario.repo.path
    init(repo)  # scripts/apply_patch.sh and dockerfiles/sample/Dockerfile
    steps = instructions((repo / "dockerfiles" / "sample" / "Dockerfile").read_text())
    stage = steps[: next(i for i, (w, r) in enumerate(steps) if w == "FROM" and "AS" not in r)]
    runs = [
        rest
        for word, rest in stage
        if word == "RUN"
        and ("verda-patch" in rest or "apply_patch.sh" in rest)
        and "pip install" not in rest
    ]
    assert len(runs) == 2
    bin_dir = tmp_path / "bin"  # the image's pip-installed console script
    bin_dir.mkdir()
    shim = bin_dir / "verda-patch"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m verda_patch "$@"\n')
    shim.chmod(0o755)
    dist = tmp_path / "dist"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    # the upstream is a local path: build as for a repo you trust (the build arg)
    env["VERDA_PATCH_UNTRUSTED"] = "0"
    for command in runs:
        command = re.sub(r"(?<![\w/])/dist\b", str(dist), command)
        proc = subprocess.run(
            ["sh", "-c", command], cwd=repo, env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (repo / ".verda" / "work" / "sample" / "sample" / "gpu.py").is_file()
    manifest = json.loads((dist / "VERDA-PATCH.json").read_text())
    assert manifest["project"] == "sample" and len(manifest["patches"]) == 3
    assert (dist / "sample.tar.gz").is_file()


def test_apply_patch_script_fails_naming_the_patch(scenario):
    init(scenario.repo.path)
    general = scenario.patches / "general" / "0001-Reject-negative-cores.patch"
    general.write_text(
        general.read_text().replace(" LIMITS = {'cores': 20", " LIMITS = {'cores': 99")
    )
    bin_dir = scenario.repo.path.parent / "bin"
    bin_dir.mkdir()
    (bin_dir / "verda-patch").write_text(f'#!/bin/sh\nexec {sys.executable} -m verda_patch "$@"\n')
    (bin_dir / "verda-patch").chmod(0o755)
    proc = subprocess.run(
        ["sh", "scripts/apply_patch.sh", "sample"],
        cwd=scenario.repo.path,
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "VERDA_PATCH_UNTRUSTED": "0",  # a local upstream: a repo you trust
        },
    )
    assert proc.returncode == 1
    assert "0001-Reject-negative-cores.patch" in proc.stderr


# --- CI examples ----------------------------------------------------------------------


def test_pre_commit_hook_definition():
    hook, untrusted = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert untrusted["id"] == "verda-patch-check-untrusted"
    assert untrusted["entry"] == "verda-patch --untrusted check"
    assert hook["id"] == "verda-patch-check"
    assert hook["entry"] == "verda-patch check"
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert files.search("patches/nova/general/0001-x.patch")
    assert files.search("base-commit") and files.search("review/nova/nova/api.py")
    assert not files.search("README.md") and not files.search("docs/ci.md")
    config = yaml.safe_load((ROOT / "docs" / "ci" / "pre-commit-config.yaml").read_text())
    assert config["repos"][0]["hooks"] == [{"id": "verda-patch-check"}]


def test_github_workflow_runs_check_with_junit():
    flow = yaml.safe_load((ROOT / "docs" / "ci" / "github-workflow.yml").read_text())
    steps = flow["jobs"]["check"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert "verda-patch --untrusted check --junit verda-patch-check.xml" in runs
    report = next(s for s in steps if "junit" in s.get("uses", ""))
    assert report["with"]["report_paths"] == "verda-patch-check.xml"


def test_zuul_job_runs_check_with_junit():
    jobs = yaml.safe_load((ROOT / "docs" / "ci" / "zuul.yaml").read_text())
    job = next(j["job"] for j in jobs if "job" in j and j["job"]["name"] == "verda-patch-check")
    assert job["run"] == "playbooks/verda-patch-check.yaml"
    project = next(j["project"] for j in jobs if "project" in j)
    assert "verda-patch-check" in project["gate"]["jobs"]
    (play,) = yaml.safe_load((ROOT / "docs" / "ci" / "zuul-playbook.yaml").read_text())
    text = json.dumps(play)
    assert "verda-patch --untrusted check" in text and "--junit" in text
