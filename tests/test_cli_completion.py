"""Shell completion comes from click: projects and categories from the patch repo."""

from __future__ import annotations

import os
import subprocess
import sys


def _complete(repo, words: str, env_extra=None):
    env = {
        **os.environ,
        "_VERDA_PATCH_COMPLETE": "bash_complete",
        "COMP_WORDS": f"verda-patch --repo {repo} {words}",
        "COMP_CWORD": str(len(words.split()) + 2 + (1 if words.endswith(" ") else 0)),
    }
    proc = subprocess.run(
        [sys.executable, "-c", "from verda_patch.cli import main; main()"],
        capture_output=True,
        env=env,
        check=False,
    )
    return proc.stdout.decode().split()


def test_projects_and_categories_complete(make_upstream, make_patch_repo):
    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("nova", up, up.rev("HEAD"))
    repo.set_base("neutron", up, up.rev("HEAD"))
    words = _complete(repo.path, "apply ne")
    assert "plain,neutron" in words
    assert not any("nova" in w for w in words)
    words = _complete(repo.path, "new nova fix -c cu")
    assert "plain,customs" in words
