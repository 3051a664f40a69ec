"""basefile: in-place edits of base-commit, resolving REFs, and what `base show` reports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import git, side_commit
from verda_patch import basefile, config
from verda_patch.errors import ConfigError, UpstreamError, UserError

OLD = "6042300453411133652dd8d3b789f5057a084075"
NEW = "759e03c35d91dac4a04237d58493665c01952c9f"

SAMPLE = f"""\
# Pinned upstream bases (edited by hand, keep the comments!)
glance:
  upstream: https://opendev.org/openstack/glance
  commit: {OLD}   # 31.0.0

nova:   # compute
  upstream: https://opendev.org/openstack/nova    # URL
  commit: {OLD}  # full 40-hex commit id
  ref: 31.0.0                                     # the release
  branch: stable/2025.1

neutron: {{upstream: https://opendev.org/openstack/neutron, commit: '{OLD}'}}
"""


def _edit(text: str, project: str, **changes: str | None) -> str:
    return basefile.edit_text(text, project, dict(changes), Path("base-commit"))


def test_only_the_values_change():
    out = _edit(SAMPLE, "nova", commit=NEW, ref="32.0.0")
    old_lines, new_lines = SAMPLE.splitlines(), out.splitlines()
    assert len(old_lines) == len(new_lines)
    diff = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert diff == [
        (f"  commit: {OLD}  # full 40-hex commit id", f"  commit: {NEW}  # full 40-hex commit id"),
        (
            "  ref: 31.0.0                                     # the release",
            "  ref: 32.0.0                                     # the release",
        ),
    ]


def test_comment_column_kept_when_the_value_grows():
    out = _edit(SAMPLE, "nova", commit=NEW, ref="32.0.0.0rc1-extra")
    line = next(x for x in out.splitlines() if x.startswith("  ref:"))
    assert line == "  ref: 32.0.0.0rc1-extra                          # the release"


def test_ref_is_inserted_after_commit_with_the_entry_indent():
    out = _edit(SAMPLE, "glance", commit=NEW, ref="32.0.0")
    assert f"  commit: {NEW}   # 31.0.0\n  ref: 32.0.0\n\nnova:" in out
    assert (
        out.replace(f"  commit: {NEW}   # 31.0.0\n  ref: 32.0.0\n", f"  commit: {OLD}   # 31.0.0\n")
        == SAMPLE
    )


def test_ref_removed_for_a_bare_commit():
    out = _edit(SAMPLE, "nova", commit=NEW, ref=None)
    assert "# the release" not in out
    assert f"  commit: {NEW}  # full 40-hex commit id\n  branch: stable/2025.1\n" in out
    assert yaml.safe_load(out)["nova"] == {
        "upstream": "https://opendev.org/openstack/nova",
        "commit": NEW,
        "branch": "stable/2025.1",
    }


def test_flow_style_and_quotes_kept():
    out = _edit(SAMPLE, "neutron", commit=NEW, ref="2025.1")
    assert out.splitlines()[-1] == (
        f"neutron: {{upstream: https://opendev.org/openstack/neutron, commit: '{NEW}', "
        'ref: "2025.1"}'
    )


@pytest.mark.parametrize(
    "ref, written",
    [
        ("32.0.0", "32.0.0"),
        ("stable/2025.2", "stable/2025.2"),
        ("2025.1", '"2025.1"'),
        ("yes", '"yes"'),
        ("null", '"null"'),
        ("a b", '"a b"'),
    ],
)
def test_values_that_yaml_would_retype_are_quoted(ref, written):
    out = _edit("p:\n  upstream: x\n  commit: c\n", "p", ref=ref)
    assert out.endswith(f"  ref: {written}\n")
    assert yaml.safe_load(out)["p"]["ref"] == ref


def test_crlf_and_missing_final_newline():
    out = _edit("p:\r\n  upstream: x\r\n  commit: c", "p", commit="d", ref="1.0")
    assert out == 'p:\r\n  upstream: x\r\n  commit: d\r\n  ref: "1.0"\r\n'


def test_unknown_project():
    with pytest.raises(ConfigError, match="no project 'cinder'"):
        _edit(SAMPLE, "cinder", commit=NEW)


def test_set_base_writes_and_checks(tmp_path):
    (tmp_path / "base-commit").write_text(SAMPLE)
    edit = basefile.set_base(tmp_path, "nova", commit=NEW, ref="32.0.0")
    assert edit.changed and edit.before.commit == OLD and edit.after.commit == NEW
    projects = config.load_projects(tmp_path / "base-commit")
    assert projects["nova"].ref == "32.0.0"
    assert projects["glance"].commit == OLD and projects["neutron"].commit == OLD
    again = basefile.set_base(tmp_path, "nova", commit=NEW, ref="32.0.0")
    assert not again.changed
    assert not list(tmp_path.glob(".base-commit*")), "no temp files left"


_comment = st.text(alphabet="abc #:-'\"", max_size=12).map(lambda s: "# " + s)


@settings(max_examples=40, deadline=None)
@given(
    before=st.lists(st.sampled_from(["alpha", "beta", "gamma"]), unique=True, max_size=2),
    comments=st.lists(_comment, min_size=4, max_size=4),
    indent=st.sampled_from(["  ", "    ", " "]),
    has_ref=st.booleans(),
)
def test_every_other_byte_survives(before, comments, indent, has_ref):
    """Property: whatever surrounds the entry, only its commit/ref lines change."""
    head = "".join(
        f"{name}:  {comments[0]}\n{indent}upstream: /x/{name}\n{indent}commit: {OLD}\n\n"
        for name in before
    )
    ref_line = f"{indent}ref: 31.0.0 {comments[2]}\n" if has_ref else ""
    entry = (
        f"{comments[1]}\nnova:\n{indent}upstream: /x/nova\n"
        f"{indent}commit: {OLD} {comments[2]}\n{ref_line}{indent}branch: master\n"
    )
    tail = f"{comments[3]}\nzeta:\n{indent}upstream: /x/z\n{indent}commit: {OLD}\n"
    text = head + entry + tail
    out = _edit(text, "nova", commit=NEW, ref="32.0.0")
    assert out.startswith(head + f"{comments[1]}\nnova:\n")
    assert out.endswith(f"{indent}branch: master\n" + tail)
    loaded = yaml.safe_load(out)
    assert loaded["nova"] == {
        "upstream": "/x/nova",
        "commit": NEW,
        "ref": "32.0.0",
        "branch": "master",
    }
    assert all(loaded[name]["commit"] == OLD for name in [*before, "zeta"])


# --- resolving REFs in the mirror ------------------------------------------------------------


@pytest.fixture
def project(make_upstream, make_patch_repo):
    up = make_upstream()
    base = up.rev("1.0.0")
    up.branch("stable/1.x")
    up.commit("Second", {"README.rst": "two\n"})
    up.tag("2.0.0")
    repo = make_patch_repo()
    repo.set_base("sample", up, base, ref="1.0.0")
    return up, repo


def _config(repo):
    return config.load(repo.path)


def test_resolve_peels_annotated_tags(project):
    up, repo = project
    tag_object = git(up.path, "rev-parse", "2.0.0")
    resolved = basefile.resolve(_config(repo), "sample", "2.0.0")
    assert resolved.commit == up.rev("2.0.0") != tag_object
    assert (resolved.kind, resolved.ref) == ("tag", "2.0.0")


def test_resolve_branch_commit_and_short_id(project):
    up, repo = project
    cfg = _config(repo)
    assert basefile.resolve(cfg, "sample", "stable/1.x").kind == "branch"
    short = up.rev("2.0.0")[:10]
    resolved = basefile.resolve(cfg, "sample", short)
    assert (resolved.commit, resolved.kind, resolved.ref) == (up.rev("2.0.0"), "commit", None)


def test_resolve_fetches_a_tag_made_after_the_mirror(project):
    up, repo = project
    cfg = _config(repo)
    basefile.resolve(cfg, "sample", "2.0.0")  # the mirror exists now
    up.commit("Third", {"README.rst": "three\n"})
    up.tag("3.0.0")
    assert basefile.resolve(cfg, "sample", "3.0.0").commit == up.rev("3.0.0")


def test_resolve_follows_a_moved_branch(project):
    up, repo = project
    cfg = _config(repo)
    basefile.resolve(cfg, "sample", "master")
    tip = up.commit("Newer", {"README.rst": "newer\n"})
    assert basefile.resolve(cfg, "sample", "master").commit == tip


@pytest.mark.parametrize("bad", ["--upload-pack=touch x", "-x", "HEAD~1", "a..b", "x@{1}"])
def test_option_like_and_rev_syntax_refused(project, bad):
    _up, repo = project
    with pytest.raises(UserError):
        basefile.resolve(_config(repo), "sample", bad)


def test_unknown_ref(project):
    _up, repo = project
    with pytest.raises(UpstreamError, match="no tag, branch or commit 'nope'"):
        basefile.resolve(_config(repo), "sample", "nope")


def test_show_counts_ahead_and_on_branch(project):
    up, repo = project
    info = basefile.show(_config(repo), "sample")
    assert info.commit == up.rev("1.0.0") and info.describe == "1.0.0"
    assert (info.branch, info.ahead, info.on_branch) == ("master", 1, True)
    assert info.ref_commit == info.commit


def test_show_commit_not_on_branch(project):
    up, repo = project
    side = side_commit(up, up.rev("1.0.0"), "Downstream only", {"x.txt": "x\n"})
    repo.set_base("sample", up, side, branch="stable/1.x")
    info = basefile.show(_config(repo), "sample")
    assert info.on_branch is False and info.ahead == 0
    assert info.describe and info.describe.startswith("1.0.0-1-g")
    assert info.ref is None
