"""config: base-commit and verda-patch.yaml, every error a one-line exit 2 naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from verda_patch import config
from verda_patch.cli import cli
from verda_patch.errors import ConfigError, UserError

C = "6042300453411133652dd8d3b789f5057a084075"
GOOD = f"nova:\n  upstream: https://opendev.org/openstack/nova\n  commit: {C}\n"


def invoke(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--repo", str(root), *args], catch_exceptions=False)


def repo_with(tmp_path: Path, text: str | bytes, name: str = "base-commit") -> Path:
    root = tmp_path / "repo"
    root.mkdir(exist_ok=True)
    if name != "base-commit":
        (root / "base-commit").write_text(GOOD)
    data = text.encode() if isinstance(text, str) else text
    (root / name).write_bytes(data)
    return root


def assert_exit_2(result: Result, where: str, *fragments: str) -> None:
    """Exit 2, nothing on stdout, one red line on stderr naming ``where``."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    err = result.stderr
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert where in err, err
    for fragment in fragments:
        assert fragment in err, err


# --- base-commit: every validation error --------------------------------------------------

BAD_BASES = [
    pytest.param(
        GOOD + "  brnch: master\n",
        "base-commit:4:",
        ("unknown key 'nova.brnch'", "allowed keys: branch, commit, ref, upstream"),
        id="unknown-key",
    ),
    pytest.param(
        GOOD.replace(C, "604230"),
        "base-commit:3:",
        (
            "nova.commit must be a full 40-hex object name, got '604230'",
            "run 'git rev-parse 604230^{commit}' in the upstream",
        ),
        id="short-commit",
    ),
    pytest.param(GOOD.replace(C, "g" * 40), "base-commit:3:", ("40-hex",), id="non-hex-commit"),
    pytest.param(GOOD.replace(C, C.upper()), "base-commit:3:", ("40-hex",), id="upper-hex"),
    pytest.param(GOOD.replace(C, C + "0"), "base-commit:3:", ("40-hex",), id="41-hex"),
    pytest.param(GOOD.replace(C, "v31.0.0"), "base-commit:3:", ("40-hex",), id="tag-not-commit"),
    pytest.param(
        GOOD.replace("nova:", "nova/compute:"),
        "base-commit:1:",
        ("project name 'nova/compute' may only use letters, digits",),
        id="slash-name",
    ),
    pytest.param(
        GOOD.replace("nova:", "'nova compute':"),
        "base-commit:1:",
        ("may only use",),
        id="space-name",
    ),
    pytest.param(
        GOOD.replace("nova:", "'..':"), "base-commit:1:", ("may only use",), id="dotdot-name"
    ),
    pytest.param(
        GOOD.replace("nova:", "növa:"), "base-commit:1:", ("may only use",), id="non-ascii-name"
    ),
    pytest.param(
        GOOD.replace("https://opendev.org/openstack/nova", '""'),
        "base-commit:2:",
        ("nova.upstream must not be empty",),
        id="empty-upstream",
    ),
    pytest.param(
        GOOD.replace("https://opendev.org/openstack/nova", "'   '"),
        "base-commit:2:",
        ("must not be empty",),
        id="blank-upstream",
    ),
    pytest.param(
        GOOD.replace(" https://opendev.org/openstack/nova", ""),
        "base-commit:2:",
        ("nova.upstream is empty",),
        id="null-upstream",
    ),
    pytest.param(
        f"nova:\n  commit: {C}\n",
        "base-commit:1:",
        ("project 'nova' has no 'upstream'", "add 'upstream:' under 'nova:'"),
        id="missing-upstream",
    ),
    pytest.param(
        "nova:\n  upstream: /srv/nova\n",
        "base-commit:1:",
        ("has no 'commit'",),
        id="missing-commit",
    ),
    pytest.param(
        GOOD.replace("https://opendev.org/openstack/nova", "'ext::sh -c touch% /tmp/x'"),
        "base-commit:2:",
        ("transport verda-patch refuses",),
        id="ext-transport",
    ),
    pytest.param(
        GOOD.replace("https://opendev.org/openstack/nova", "fd::17"),
        "base-commit:2:",
        ("transport verda-patch refuses",),
        id="fd-transport",
    ),
    pytest.param(
        GOOD.replace("https://opendev.org/openstack/nova", "'--upload-pack=touch /tmp/x'"),
        "base-commit:2:",
        ("must not start with '-'",),
        id="option-upstream",
    ),
    pytest.param(
        GOOD.replace("https://opendev.org/openstack/nova", "-oProxyCommand=x"),
        "base-commit:2:",
        ("must not start with '-'",),
        id="ssh-option-upstream",
    ),
    pytest.param(
        GOOD + "  branch: -delete\n",
        "base-commit:4:",
        ("nova.branch must be a ref name not starting with '-'",),
        id="option-branch",
    ),
    pytest.param(
        GOOD + "  ref: 31.0.0..32.0.0\n",
        "base-commit:4:",
        ("nova.ref is not a valid git ref name",),
        id="range-ref",
    ),
    pytest.param(
        GOOD + "  commit: " + C + "\n",
        "base-commit:4:",
        ("duplicate key 'commit' in project 'nova'",),
        id="duplicate-field",
    ),
    pytest.param(
        GOOD + GOOD,
        "base-commit:4:",
        ("duplicate key 'nova' in base-commit",),
        id="duplicate-project",
    ),
    pytest.param(
        "nova:\n  upstream: [https://x\n  commit: y\n",
        "base-commit:3:",
        ("invalid YAML",),
        id="unclosed-flow",
    ),
    pytest.param(
        "nova:\n\tupstream: x\n",
        "base-commit:2:",
        ("invalid YAML", "found character '\\t'"),
        id="tab-indent",
    ),
    pytest.param(
        GOOD + "---\nglance: {}\n",
        "base-commit:4:",
        ("invalid YAML", "another document"),
        id="two-documents",
    ),
    pytest.param(
        "nova: *undefined\n", "base-commit:1:", ("undefined alias",), id="undefined-alias"
    ),
    pytest.param(
        GOOD.replace(C, f"[{C}]"),
        "base-commit:3:",
        ("nova.commit must be a single value",),
        id="list-commit",
    ),
    pytest.param(
        "nova: https://opendev.org/openstack/nova\n",
        "base-commit:1:",
        ("project 'nova' must be a mapping",),
        id="scalar-project",
    ),
    pytest.param(
        "- nova\n- glance\n",
        "base-commit:1:",
        ("base-commit must be a mapping",),
        id="top-level-list",
    ),
    pytest.param(
        "? [a, b]\n: x\n", "base-commit:1:", ("a key must be a single value",), id="complex-key"
    ),
    pytest.param(
        "nova: " + "[" * 200 + "\n",
        "base-commit:1:",
        ("nested more than 20 levels deep",),
        id="deep-nesting",
    ),
    pytest.param(
        "a:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 30)),
        "base-commit:20:",
        ("nested more than 20 levels deep",),
        id="deep-block-nesting",
    ),
    pytest.param(
        b"nova:\n  upstream: /srv/caf\xe9\n  commit: " + C.encode() + b"\n",
        "base-commit:2:",
        ("not UTF-8 text", "save the file as UTF-8"),
        id="latin-1",
    ),
]


@pytest.mark.parametrize(("text", "where", "fragments"), BAD_BASES)
def test_bad_base_commit_is_exit_2_naming_file_and_line(
    tmp_path: Path, text: str | bytes, where: str, fragments: tuple[str, ...]
) -> None:
    root = repo_with(tmp_path, text)
    assert_exit_2(invoke(root, "list"), where, *fragments)
    assert_exit_2(invoke(root, "--json", "list", "nova"), where, *fragments)


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    root = repo_with(tmp_path, "\n".join(levels) + "\n")
    # only scalars are ever read, so nothing expands: 9**8 "lol"s are never built
    assert_exit_2(invoke(root, "list"), "base-commit:1:", "project 'a' must be a mapping")


def test_aliases_inside_a_valid_file_are_not_expanded_beyond_scalars(tmp_path: Path) -> None:
    text = (
        f"nova:\n  upstream: &up /srv/mirror\n  commit: {C}\n"
        f"glance:\n  upstream: *up\n  commit: {C}\n"
    )
    projects = config.load_projects(repo_with(tmp_path, text) / "base-commit")
    assert projects["glance"].upstream == "/srv/mirror"


def test_deep_nesting_at_the_size_limit_is_a_config_error(tmp_path: Path) -> None:
    # regression: PyYAML's composer recursed per level and died with RecursionError
    root = repo_with(tmp_path, "nova: " + "[" * (config.MAX_CONFIG_BYTES - 10) + "\n")
    with pytest.raises(ConfigError, match="nested more than"):
        config.load(root)


def test_oversized_config_is_refused_before_parsing(tmp_path: Path) -> None:
    root = repo_with(tmp_path, GOOD + "#" * (config.MAX_CONFIG_BYTES + 1) + "\n")
    assert_exit_2(invoke(root, "list"), "base-commit", "more than the 1048576 a config may have")


def test_error_lines_point_at_the_offending_project(tmp_path: Path) -> None:
    text = GOOD + f"glance:\n  upstream: /srv/glance\n  commit: {C[:12]}\n"
    assert_exit_2(invoke(repo_with(tmp_path, text), "list"), "base-commit:6:", "glance.commit")


def test_traceback_only_with_verbose_and_still_exit_2(tmp_path: Path) -> None:
    root = repo_with(tmp_path, GOOD.replace(C, "604230"))
    result = CliRunner().invoke(cli, ["-v", "--repo", str(root), "list"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "base-commit:3:" in result.stderr


# --- verda-patch.yaml ---------------------------------------------------------------------

BAD_SETTINGS = [
    pytest.param(
        "categorys: [a]\n",
        ":1:",
        ("unknown setting 'categorys'", "allowed: categories"),
        id="unknown-setting",
    ),
    pytest.param(
        "categories: []\n", ":1:", ("categories must be a non-empty list",), id="empty-categories"
    ),
    pytest.param("categories: customs\n", ":1:", ("non-empty list",), id="scalar-categories"),
    pytest.param(
        "categories:\n  - general\n  - in/house\n",
        ":3:",
        ("category 'in/house' may only use",),
        id="slash-category",
    ),
    pytest.param(
        "categories: [general, general]\n", ":1:", ("lists a name twice",), id="duplicate-category"
    ),
    pytest.param(
        "work_dir: /tmp/elsewhere\n",
        ":1:",
        ("work_dir must be a relative path",),
        id="absolute-work-dir",
    ),
    pytest.param("work_dir: ../outside\n", ":1:", ("relative path inside",), id="dotdot-work-dir"),
    pytest.param(
        "categories: [a]\ncategories: [b]\n",
        ":2:",
        ("duplicate key 'categories'",),
        id="duplicate-setting",
    ),
    pytest.param("categories: [a\n", ":2:", ("invalid YAML",), id="malformed"),
]


@pytest.mark.parametrize(("text", "line", "fragments"), BAD_SETTINGS)
def test_bad_settings_are_exit_2_naming_file_and_line(
    tmp_path: Path, text: str, line: str, fragments: tuple[str, ...]
) -> None:
    root = repo_with(tmp_path, text, name="verda-patch.yaml")
    assert_exit_2(invoke(root, "list"), "verda-patch.yaml" + line, *fragments)


def test_settings_defaults_and_overrides(tmp_path: Path) -> None:
    root = repo_with(tmp_path, GOOD)
    assert config.load(root).settings == config.Settings()
    assert config.Settings().categories == ("cherry-pick", "general", "customs")
    (root / "verda-patch.yaml").write_text(
        "# local order\ncategories: [customs, cherry-pick]\nwork_dir: build/work\n"
    )
    loaded = config.load(root)
    assert loaded.settings.categories == ("customs", "cherry-pick")
    assert loaded.work_tree("nova") == root / "build/work/nova"


# --- what a valid file gives ---------------------------------------------------------------


def test_valid_base_commit_keeps_raw_text_and_defaults(tmp_path: Path) -> None:
    digits = "1234567890" * 4  # YAML would read an int; the commit must stay as written
    exp = "1e" + "0" * 38  # ... or a float
    text = (
        "# pinned bases\n"
        f"nova:\n  upstream: https://opendev.org/openstack/nova\n  commit: {C}\n"
        "  ref: 31.0.0\n  branch: stable/2025.1\n"
        f"glance:\n  upstream: ../mirrors/glance\n  commit: {digits}\n"
        f"neutron-lib:\n  upstream: git@example.org:neutron-lib.git\n  commit: '{exp}'\n"
    )
    root = repo_with(tmp_path, text)
    projects = config.load(root).projects
    assert list(projects) == ["nova", "glance", "neutron-lib"]
    nova = projects["nova"]
    assert (nova.commit, nova.ref, nova.branch, nova.line) == (C, "31.0.0", "stable/2025.1", 2)
    assert projects["glance"].commit == digits
    assert (projects["glance"].ref, projects["glance"].branch) == (None, "master")
    assert projects["neutron-lib"].commit == exp
    assert nova.upstream_location(root) == "https://opendev.org/openstack/nova"
    assert projects["glance"].upstream_location(root) == str((root / "../mirrors/glance").resolve())
    assert projects["neutron-lib"].upstream_location(root) == "git@example.org:neutron-lib.git"


def test_the_init_template_is_a_valid_empty_config(tmp_path: Path) -> None:
    from verda_patch.scaffold import template

    root = repo_with(tmp_path, template("base-commit"))
    assert config.load(root).projects == {}
    assert (
        invoke(root, "--json", "list").stdout.strip().replace(" ", "").replace("\n", "")
        == '{"projects":[]}'
    )


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("https://x/y", True),
        ("ssh://git@x/y", True),
        ("git://x/y", True),
        ("file:///srv/y", True),
        ("git@example.org:nova.git", True),
        ("/srv/nova", False),
        ("../nova", False),
        ("C:/nova", False),
        ("nova", False),
    ],
)
def test_is_url(value: str, url: bool) -> None:
    assert config.is_url(value) is url


def test_find_root_walks_up_and_says_what_to_do(tmp_path: Path) -> None:
    root = repo_with(tmp_path, GOOD)
    deep = root / "patches" / "nova" / "customs"
    deep.mkdir(parents=True)
    assert config.find_root(deep) == root.resolve()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(ConfigError, match="run 'verda-patch init'"):
        config.find_root(elsewhere)


def test_unknown_project_lists_the_known_ones(tmp_path: Path) -> None:
    text = GOOD + f"glance:\n  upstream: /srv/glance\n  commit: {C}\n"
    loaded = config.load(repo_with(tmp_path, text))
    with pytest.raises(UserError, match=r"unknown project 'cinder' \(known: nova, glance\)"):
        loaded.project("cinder")


# --- property: arbitrary text is a ConfigError or a config ---------------------------------

YAMLISH = st.lists(
    st.sampled_from(
        [
            "nova",
            "commit",
            "upstream",
            "ref",
            "branch",
            "categories",
            "work_dir",
            ":",
            ": ",
            "- ",
            "[",
            "]",
            "{",
            "}",
            ",",
            "&a ",
            "*a",
            "!!str ",
            "!!binary ",
            "? ",
            "'",
            '"',
            "#",
            "\n",
            "\n  ",
            "\n    ",
            "\t",
            C,
            "..",
            "/",
            "-x",
            "ext::",
            "~",
            "null",
            "1e3",
            "\\",
            "\u00e9",
            "<<: ",
            "%YAML 1.1\n",
            "---\n",
        ]
    ),
    max_size=40,
).map("".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.one_of(st.text(max_size=300), YAMLISH))
@example(text="a: !!binary x\n")
@example(text="%TAG ! tag:x\n---\na: 1\n")
def test_arbitrary_text_raises_only_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "base-commit"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    settings_path = tmp_path / "verda-patch.yaml"
    settings_path.write_text(text, encoding="utf-8", errors="surrogatepass")
    for load in (config.load_projects, config.load_settings):
        try:
            load(path if load is config.load_projects else settings_path)
        except ConfigError as exc:
            assert exc.file in (path, settings_path)
