"""``base-commit`` and ``verda-patch.yaml`` → frozen dataclasses.

Both files are read with PyYAML's safe composer so every value keeps its line
number for error messages; aliases are never expanded (no YAML bombs) and the
files are capped in size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from verda_patch.errors import ConfigError, UserError
from verda_patch.policy import Policy
from verda_patch.upstreams import redact

BASE_FILE = "base-commit"
SETTINGS_FILE = "verda-patch.yaml"
DEFAULT_CATEGORIES = ("cherry-pick", "general", "customs")
MAX_CONFIG_BYTES = 1 << 20

PROJECT_RE = re.compile(r"[A-Za-z0-9._-]+")  # always fullmatch: "$" lets "x\n" in
COMMIT_RE = re.compile(r"[0-9a-f]{40}")
CATEGORY_RE = re.compile(r"[A-Za-z0-9._-]+")
# A transport prefix such as ext:: or fd:: lets a URL run commands; refuse all of them.
_TRANSPORT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_URL_SCHEMES = ("http://", "https://", "ssh://", "git://", "file://", "git+ssh://", "ssh+git://")
_PROJECT_KEYS = {"upstream", "commit", "ref", "branch"}
_SETTINGS_KEYS = {"categories", "work_dir", "tag_pattern", "prefix-remote"}


@dataclass(frozen=True)
class Project:
    """One entry of ``base-commit``."""

    name: str
    upstream: str
    commit: str
    ref: str | None = None
    branch: str = "master"
    line: int = 0

    @property
    def shown_upstream(self) -> str:
        """``upstream`` without credentials: the form printed, stored and tagged."""
        return redact(self.upstream)

    def upstream_location(self, root: Path) -> str:
        """The upstream as git should see it: URLs as they are, paths made absolute."""
        if is_url(self.upstream):
            return self.upstream
        path = Path(self.upstream).expanduser()
        return str(path if path.is_absolute() else (root / path).resolve())


@dataclass(frozen=True)
class Settings:
    """``verda-patch.yaml``; every key is optional."""

    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    work_dir: str = ".verda/work"
    tag_pattern: str = "{project}-{ref}-verda.{n}"
    # a git remote sharing built prefixes between machines (issue 16); a path is
    # relative to the patch repo
    prefix_remote: str | None = None


@dataclass(frozen=True)
class RepoConfig:
    root: Path
    projects: dict[str, Project] = field(default_factory=dict)
    settings: Settings = Settings()
    # from the user's environment and options, never from the repo
    policy: Policy = field(default_factory=Policy)

    def project(self, name: str) -> Project:
        try:
            return self.projects[name]
        except KeyError:
            known = ", ".join(self.projects) or "none"
            raise UserError(
                f"unknown project '{name}' (known: {known})",
                file=self.root / BASE_FILE,
                hint=f"check the spelling, or add it with 'verda-patch base set {name} "
                "REF --upstream URL'",
            ) from None

    def work_tree(self, name: str) -> Path:
        return self.root / self.settings.work_dir / name


def is_url(value: str) -> bool:
    if value.startswith(_URL_SCHEMES):
        return True
    # scp-like user@host:path, but not a Windows drive or a local path with a colon
    return bool(re.match(r"^[\w.-]+@[\w.-]+:", value))


def check_upstream(value: str) -> str | None:
    """Why ``value`` is not a safe upstream location, or None when it is."""
    if not value.strip():
        return "upstream must not be empty"
    if value.startswith("-"):
        return f"upstream must not start with '-', got {value!r}"
    if _TRANSPORT_RE.match(value):
        return f"upstream uses a transport verda-patch refuses, got {value!r}"
    if any(ch in value for ch in "\0\n\r"):
        return "upstream must be one line"
    return None


def check_refname(value: str) -> str | None:
    """Why ``value`` cannot be a ref name we pass to git, or None."""
    if not value or value.startswith("-"):
        return f"must be a ref name not starting with '-', got {value!r}"
    if re.search(r"[\s~^:?*\[\\\x00-\x1f\x7f]|\.\.|@\{|//|\.lock$|^/|/$", value):
        return f"is not a valid git ref name: {value!r}"
    return None


TAG_FIELDS = ("project", "ref", "commit", "n")
MAX_TAG_PATTERN = 200


def check_tag_pattern(pattern: str) -> str | None:
    """Why ``tag_pattern`` cannot be used, or None.

    Only the plain fields, ``{n}`` exactly once, no format spec or conversion:
    a width such as ``{project:>1000000000}`` would exhaust memory and
    ``{n:03}`` would not be found again among existing tags (issue 18).
    """
    import string

    if len(pattern) > MAX_TAG_PATTERN:
        return f"tag_pattern is longer than {MAX_TAG_PATTERN} characters"
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        return f"tag_pattern {pattern!r} does not parse: {exc}"
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TAG_FIELDS:
            return f"tag_pattern uses unknown field {{{name}}} (fields: {{project}}, " + (
                "{ref}, {commit}, {n})"
            )
        if spec or conversion:
            return f"tag_pattern field {{{name}}} may not carry a format spec or conversion"
        names.append(name)
    if names.count("n") != 1:
        return "tag_pattern must contain {n} (the release number) exactly once"
    return None


def find_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding ``base-commit``."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / BASE_FILE).is_file():
            return candidate
    raise ConfigError(
        f"no {BASE_FILE} found in {start} or any parent directory",
        hint="run 'verda-patch init' to create a patch repo, or pass --repo DIR",
    )


MAX_DEPTH = 20  # base-commit and verda-patch.yaml are two levels deep


class _Loader(yaml.SafeLoader):
    """The safe loader with a nesting limit: PyYAML's composer recurses once per level,
    so "[[[[..." slows down quadratically and then overflows the stack."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _compose(path: Path) -> yaml.Node | None:
    if path.is_symlink():
        # a committed link to a file elsewhere on the host would be read, and
        # its keys named in our errors (issue 18)
        raise ConfigError(
            "is a symlink; verda-patch reads its config only from a file in the patch repo",
            file=path,
            hint="replace the link with the file itself",
        )
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"file is {size} bytes, more than the {MAX_CONFIG_BYTES} a config may have",
            file=path,
        )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})",
            file=path,
            line=data.count(b"\n", 0, exc.start) + 1,
            hint="save the file as UTF-8",
        ) from None
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"invalid YAML: {problem}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from None


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _scalar(node: yaml.Node, what: str, path: Path) -> str:
    if isinstance(node, yaml.ScalarNode) and node.value == "" and node.tag.endswith(":null"):
        raise ConfigError(f"{what} is empty", file=path, line=_line(node), hint="give it a value")
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{what} must be a single value", file=path, line=_line(node))
    return str(node.value)


def _mapping(node: yaml.Node, what: str, path: Path) -> list[tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(
            f"{what} must be a mapping of keys to values", file=path, line=_line(node)
        )
    seen: set[str] = set()
    pairs = []
    for key, value in node.value:
        name = _scalar(key, "a key", path)
        if name in seen:
            raise ConfigError(f"duplicate key '{name}' in {what}", file=path, line=_line(key))
        seen.add(name)
        pairs.append((key, value))
    return pairs


def _load_project(key: yaml.Node, value: yaml.Node, path: Path) -> Project:
    name = _scalar(key, "a project name", path)
    if not PROJECT_RE.fullmatch(name) or set(name) == {"."}:
        raise ConfigError(
            f"project name {name!r} may only use letters, digits, '.', '_' and '-'",
            file=path,
            line=_line(key),
        )
    fields: dict[str, str] = {}
    lines: dict[str, int] = {}
    for k, v in _mapping(value, f"project '{name}'", path):
        field_name = str(k.value)
        if field_name not in _PROJECT_KEYS:
            raise ConfigError(
                f"unknown key '{name}.{field_name}'",
                file=path,
                line=_line(k),
                hint="allowed keys: " + ", ".join(sorted(_PROJECT_KEYS)),
            )
        fields[field_name] = _scalar(v, f"{name}.{field_name}", path)
        lines[field_name] = _line(v)
    for required in ("upstream", "commit"):
        if required not in fields:
            raise ConfigError(
                f"project '{name}' has no '{required}'",
                file=path,
                line=_line(key),
                hint=f"add '{required}:' under '{name}:'",
            )
    problem = check_upstream(fields["upstream"])
    if problem:
        raise ConfigError(f"{name}.{problem}", file=path, line=lines["upstream"])
    commit = fields["commit"]
    if not COMMIT_RE.fullmatch(commit):
        raise ConfigError(
            f"{name}.commit must be a full 40-hex object name, got {commit!r}",
            file=path,
            line=lines["commit"],
            hint=f"run 'git rev-parse {commit}^{{commit}}' in the upstream",
        )
    for opt in ("ref", "branch"):
        if opt in fields and (problem := check_refname(fields[opt])):
            raise ConfigError(f"{name}.{opt} {problem}", file=path, line=lines[opt])
    return Project(
        name=name,
        upstream=fields["upstream"],
        commit=commit,
        ref=fields.get("ref"),
        branch=fields.get("branch", "master"),
        line=_line(key),
    )


def load_projects(path: Path) -> dict[str, Project]:
    node = _compose(path)
    if node is None:
        if not path.exists():
            raise ConfigError("file not found", file=path, hint="run 'verda-patch init'")
        return {}
    projects: dict[str, Project] = {}
    for key, value in _mapping(node, "base-commit", path):
        project = _load_project(key, value, path)
        projects[project.name] = project
    return projects


def load_settings(path: Path) -> Settings:
    node = _compose(path)
    if node is None:
        return Settings()
    values: dict[str, object] = {}
    for key, value in _mapping(node, SETTINGS_FILE, path):
        name = str(key.value)
        if name not in _SETTINGS_KEYS:
            raise ConfigError(
                f"unknown setting '{name}'",
                file=path,
                line=_line(key),
                hint="allowed: " + ", ".join(sorted(_SETTINGS_KEYS)),
            )
        if name == "categories":
            if not isinstance(value, yaml.SequenceNode) or not value.value:
                raise ConfigError(
                    "categories must be a non-empty list", file=path, line=_line(value)
                )
            cats = [_scalar(item, "a category", path) for item in value.value]
            for item, cat in zip(value.value, cats, strict=True):
                if not CATEGORY_RE.fullmatch(cat) or set(cat) == {"."}:
                    raise ConfigError(
                        f"category {cat!r} may only use letters, digits, '.', '_' and '-'",
                        file=path,
                        line=_line(item),
                    )
            if len(set(cats)) != len(cats):
                raise ConfigError("categories lists a name twice", file=path, line=_line(value))
            values["categories"] = tuple(cats)
        else:
            text = _scalar(value, name, path)
            parts = Path(text).parts
            if name == "work_dir" and (
                Path(text).is_absolute()
                or ".." in parts
                or any(p.lower() == ".git" for p in parts)  # git's own folder is never ours
            ):
                raise ConfigError(
                    "work_dir must be a relative path inside the patch repo",
                    file=path,
                    line=_line(value),
                )
            if name == "tag_pattern" and (problem := check_tag_pattern(text)):
                raise ConfigError(
                    problem,
                    file=path,
                    line=_line(value),
                    hint="e.g. '{project}-{ref}-verda.{n}'",
                )
            if name == "prefix-remote":
                problem = check_upstream(text)
                if problem:
                    raise ConfigError(
                        problem.replace("upstream", "prefix-remote", 1),
                        file=path,
                        line=_line(value),
                        hint="name a git remote: a URL or a path",
                    )
                name = "prefix_remote"
            values[name] = text
    return Settings(**values)  # type: ignore[arg-type]


def load(root: Path, policy: Policy | None = None) -> RepoConfig:
    """Read the patch repo at ``root`` (``policy``: default from the environment)."""
    policy = policy or Policy.from_environment()
    projects = load_projects(root / BASE_FILE)
    if problem := policy.check("projects", len(projects), "the number of projects"):
        raise ConfigError(problem, file=root / BASE_FILE)
    return RepoConfig(
        root=root,
        projects=projects,
        settings=load_settings(root / SETTINGS_FILE),
        policy=policy,
    )
