"""Untrusted mode and credentials (issue 18): the patch repo is someone else's input.

Upstreams are served over git's dumb HTTP protocol by a tiny server on the
loopback interface, started and stopped by each test; it records every
credential it is offered.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.builders import git

SECRET = "s3cret-ci-token"


@dataclass
class Server:
    root: Path
    port: int = 0
    require_auth: bool = False
    seen: list[str] = field(default_factory=list)  # Authorization headers received
    paths: list[str] = field(default_factory=list)

    def url(self, name: str, userinfo: str = "") -> str:
        return f"http://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}/{name}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def publish(self, upstream, name: str = "up.git") -> str:
        """A bare copy of ``upstream`` under the server root, dumb-HTTP ready."""
        target = self.root / name
        if not target.exists():
            git(self.root, "clone", "-q", "--bare", str(upstream.path), name)
        else:
            git(target, "fetch", "-q", str(upstream.path), "+refs/*:refs/*")
        git(target, "update-server-info")
        return name


class _Handler(SimpleHTTPRequestHandler):
    server_state: Server
    timeout = 10  # a stuck client cannot hold the test

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server_state
        state.paths.append(self.path)
        auth = self.headers.get("Authorization")
        if auth:
            state.seen.append(auth)
        if state.require_auth and not auth:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path, monkeypatch) -> Iterator[Server]:
    root = tmp_path / "srv"
    root.mkdir()
    state = Server(root)
    handler = type("Handler", (_Handler,), {"server_state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file:http")
    monkeypatch.delenv("VERDA_PATCH_UNTRUSTED", raising=False)
    monkeypatch.delenv("VERDA_PATCH_TRUSTED_HOSTS", raising=False)
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def user_credentials(tmp_path, monkeypatch, server) -> None:
    """A CI user's credentials, every way git finds them: askpass, a global
    extraHeader, a credential helper's store, and ~/.netrc."""
    home = tmp_path / "home"
    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho {SECRET}\n")
    askpass.chmod(0o755)
    monkeypatch.setenv("GIT_ASKPASS", str(askpass))
    monkeypatch.delenv("GIT_CONFIG_NOSYSTEM", raising=False)
    (home / ".gitconfig").write_text(
        f"[http]\n\textraHeader = X-Ci-Token: {SECRET}\n[credential]\n\thelper = store\n"
    )
    (home / ".git-credentials").write_text(f"http://ci:{SECRET}@{server.host}\n")
    (home / ".netrc").write_text(f"machine 127.0.0.1 login ci password {SECRET}\n")


def _leaked(server: Server) -> list[str]:
    found = []
    for header in server.seen:
        kind, _, value = header.partition(" ")
        decoded = base64.b64decode(value).decode() if kind == "Basic" else value
        if SECRET in decoded or SECRET in header:
            found.append(header)
    return found


@pytest.fixture
def served(make_upstream, make_patch_repo, server):
    upstream = make_upstream("up")
    name = server.publish(upstream)
    repo = make_patch_repo()
    repo.set_base("nova", server.url(name), upstream.rev("HEAD"), ref="master")
    repo.commit_all()
    return upstream, repo


# --- credentials go only to hosts the user trusts ------------------------------------


def test_untrusted_check_sends_no_user_credential(served, server, user_credentials):
    _, repo = served
    server.require_auth = True
    result = repo.run("--untrusted", "check")
    assert result.exit_code == 1  # the server wants credentials; none were given
    assert server.paths, "the fetch never reached the server"
    assert _leaked(server) == []
    assert SECRET not in result.output


def test_env_untrusted_check_sends_no_extra_header(served, server, user_credentials, monkeypatch):
    _, repo = served
    monkeypatch.setenv("VERDA_PATCH_UNTRUSTED", "1")
    seen_headers: list[str] = []
    original = _Handler.do_GET

    def spy(self):
        seen_headers.append(str(self.headers))
        original(self)

    monkeypatch.setattr(_Handler, "do_GET", spy)
    result = repo.run("check")
    assert result.exit_code == 0, result.output
    assert seen_headers and not any(SECRET in h for h in seen_headers)


def test_trusted_hosts_limit_credentials_in_any_mode(served, server, user_credentials, monkeypatch):
    _, repo = served
    server.require_auth = True
    monkeypatch.setenv("VERDA_PATCH_TRUSTED_HOSTS", "opendev.org, git.example.org")
    result = repo.run("check")
    assert result.exit_code == 1
    assert _leaked(server) == []


def test_a_trusted_host_gets_the_users_credentials(served, server, user_credentials, monkeypatch):
    # the control: the same setup does send the credential where the user allows it
    _, repo = served
    server.require_auth = True
    monkeypatch.setenv("VERDA_PATCH_TRUSTED_HOSTS", server.host)
    result = repo.run("--untrusted", "check")
    assert result.exit_code == 0, result.output
    assert _leaked(server)


def test_untrusted_mode_keeps_proxy_settings(served, server, user_credentials, tmp_path):
    # http.proxy of the user's global config is kept: pointed at our server, the
    # fetch goes through it as a proxy (absolute-form request line)
    _, repo = served
    home = tmp_path / "home"
    config = (home / ".gitconfig").read_text()
    (home / ".gitconfig").write_text(config + f"[http]\n\tproxy = http://{server.host}\n")
    result = repo.run("--untrusted", "check")
    assert any(p.startswith("http://") for p in server.paths), server.paths
    assert _leaked(server) == []
    del result


# --- credentials in URLs are never printed or stored ------------------------------


def test_url_credentials_redacted_everywhere(served, server, tmp_path):
    upstream, repo = served
    repo.set_base("nova", server.url("up.git", f"ci:{SECRET}"), upstream.rev("HEAD"), ref="master")
    repo.commit_all()
    junit = tmp_path / "out.xml"
    outputs = [
        repo.run("-v", "check", "--junit", str(junit)),
        repo.run("--json", "check"),
        repo.run("--json", "list"),
        repo.run("list"),
        repo.run("--json", "base", "show", "nova"),
        repo.run("base", "show", "nova"),
        repo.run("tag", "nova", "--dry-run"),
        repo.run("--json", "cache", "list"),
    ]
    archive = tmp_path / "nova.tar.gz"
    outputs.append(repo.run("archive", "nova", "-o", str(archive)))
    for result in outputs:
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output, result.output
    assert SECRET not in junit.read_text()
    assert (
        f"127.0.0.1:{server.port}/up.git"
        in json.loads(outputs[2].stdout)["projects"][0]["base"]["upstream"]
    )
    manifest = subprocess.run(
        ["tar", "-xzOf", str(archive), "--wildcards", "*/VERDA-PATCH.json"],
        capture_output=True,
        check=True,
    ).stdout
    assert SECRET.encode() not in manifest and b"127.0.0.1" in manifest
    (mirror,) = (tmp_path / "cache").glob("*.git")
    assert SECRET not in (mirror / "config").read_text()
    result = repo.run("tag", "nova")
    assert result.exit_code == 0, result.output
    message = git(repo.path, "tag", "-l", "--format=%(contents)")
    assert SECRET not in message and "127.0.0.1" in message


def test_failed_fetch_error_never_shows_the_credential(make_patch_repo, server, make_upstream):
    repo = make_patch_repo()
    repo.set_base("nova", server.url("missing.git", f"ci:{SECRET}"), "0" * 40)
    for args in (("apply", "nova"), ("--json", "check"), ("-v", "check")):
        result = repo.run(*args)
        assert result.exit_code in (1, 2)
        assert SECRET not in result.output
        assert "missing.git" in result.output


# --- what an untrusted repo may name ------------------------------------------------


def test_untrusted_refuses_a_local_path_upstream(make_upstream, make_patch_repo, tmp_path):
    upstream = make_upstream("other-teams-mirror")
    repo = make_patch_repo()
    repo.set_base("nova", str(upstream.path), upstream.rev("HEAD"))
    for spelling in (str(upstream.path), f"file://{upstream.path}", "../other-teams-mirror"):
        repo.set_base("nova", spelling, upstream.rev("HEAD"))
        result = repo.run("apply", "nova", "--untrusted")  # global option after the command
        assert result.exit_code == 2, result.output
        assert "local path" in result.stderr and "base-commit" in result.stderr
        check = repo.run("--untrusted", "--json", "check")
        assert check.exit_code == 2  # bad input in base-commit
        assert "local path" in check.stdout
    assert not list((tmp_path / "cache").glob("*.git"))


def test_untrusted_refuses_a_commit_on_no_branch_or_tag(make_upstream, make_patch_repo, server):
    upstream = make_upstream("up")
    base = upstream.rev("HEAD")
    unmerged = upstream.commit("Unreviewed change", {"sample/evil.py": "x = 1\n"})
    git(upstream.path, "update-ref", "refs/changes/01/1/1", unmerged)
    git(upstream.path, "reset", "-q", "--hard", base)
    name = server.publish(upstream)
    repo = make_patch_repo()
    repo.set_base("nova", server.url(name), unmerged)
    result = repo.run("--untrusted", "--json", "check")
    assert result.exit_code == 2  # bad input in base-commit
    doc = json.loads(result.stdout)
    (config,) = [r for r in doc["results"] if r["check"] == "config" and not r["ok"]]
    assert "on no branch or tag" in config["message"]
    assert "unmerged" in config["message"]
    # a merged commit of the same upstream passes
    repo.set_base("nova", server.url(name), base)
    assert repo.run("--untrusted", "check").exit_code == 0


def test_untrusted_refuses_an_unmerged_commit_a_trusted_run_fetched(
    make_upstream, make_patch_repo, tmp_path
):
    # the mirror may hold the commit already (fetched by id by a trusted run)
    upstream = make_upstream("up")
    base = upstream.rev("HEAD")
    unmerged = upstream.commit("Unreviewed change", {"sample/evil.py": "x = 1\n"})
    git(upstream.path, "update-ref", "refs/changes/01/1/1", unmerged)
    git(upstream.path, "reset", "-q", "--hard", base)
    repo = make_patch_repo()
    repo.set_base("nova", upstream.path, unmerged)
    assert repo.run("apply", "nova").exit_code == 0  # trusted: fetched by id
    from verda_patch.config import load
    from verda_patch.mirror import Mirror
    from verda_patch.policy import Policy

    config = load(repo.path, Policy(untrusted=True))
    mirror = Mirror(
        str(upstream.path), next((tmp_path / "cache").glob("*.git")), policy=config.policy
    )
    assert mirror.has(unmerged)
    with pytest.raises(Exception, match="on no branch or tag"):
        mirror.ensure(commits=(unmerged,))
    mirror.ensure(commits=(base,))


# --- limits: set by the user's environment, never by the repo -------------------------


@pytest.fixture
def gate_repo(make_upstream, make_patch_repo, server):
    """The three-patch scenario of test_check, its upstream served over HTTP."""
    from tests.test_check import build

    scenario = build(make_upstream, make_patch_repo)
    name = server.publish(scenario.up)
    scenario.repo.set_base("sample", server.url(name), scenario.base, ref="1.0.0")
    scenario.repo.commit_all("served")
    return scenario


def _failed(result) -> list[dict]:
    return [r for r in json.loads(result.stdout)["results"] if not r["ok"]]


def test_untrusted_gate_passes_a_good_repo(gate_repo):
    result = gate_repo.repo.run("--untrusted", "--json", "check")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("var", "value", "check", "file", "says"),
    [
        ("VERDA_PATCH_MAX_PATCH_BYTES", "200", "parse", "general/", "its size in bytes is"),
        ("VERDA_PATCH_MAX_PATCHES", "2", "series", None, "the number of patches of sample is 3"),
    ],
)
def test_limit_breaks_are_clear_failures(gate_repo, monkeypatch, var, value, check, file, says):
    monkeypatch.setenv(var, value)
    result = gate_repo.repo.run("--untrusted", "--json", "check")
    assert result.exit_code == 1
    assert says in result.output and var in result.output
    failed = _failed(result)
    assert failed and all(f["check"] == check for f in failed)
    assert file is None or any((f["file"] or "").startswith(file) for f in failed)
    # the same repo passes where the user trusts it: the limits are untrusted mode's
    monkeypatch.delenv(var)
    assert gate_repo.repo.run("--json", "check").exit_code == 0


def test_hunk_limit(make_upstream, make_patch_repo, server, monkeypatch):
    upstream = make_upstream("up")
    base = upstream.rev("HEAD")
    api = upstream.read(base, "sample/api.py").decode()
    changed = api.replace("return 1\n", "return 11\n").replace("return 30\n", "return 33\n")
    upstream.commit("Two hunks", {"sample/api.py": changed})
    patch = upstream.format_patch("HEAD")
    assert patch.count(b"\n@@ ") == 2
    repo = make_patch_repo()
    repo.set_base("nova", server.url(server.publish(upstream)), base)
    repo.add_patch("nova", "general", "0001-two-hunks.patch", patch)
    repo.commit_all()
    assert repo.run("--untrusted", "check").exit_code == 0
    monkeypatch.setenv("VERDA_PATCH_MAX_HUNKS", "1")
    result = repo.run("--untrusted", "--json", "check")
    assert result.exit_code == 1
    (failed,) = _failed(result)
    assert failed["file"] == "general/0001-two-hunks.patch"
    assert "its number of hunks is 2, more than the 1" in failed["message"]
    assert "VERDA_PATCH_MAX_HUNKS" in failed["message"]


def test_default_size_limit_refuses_a_huge_patch_without_reading_it(gate_repo):
    huge = gate_repo.patches / "customs" / "0001-Add-GPU-quota.patch"
    with huge.open("ab") as handle:
        handle.truncate(17 << 20)  # sparse: 17 MiB of NULs past the patch
    result = gate_repo.repo.run("--untrusted", "--json", "check")
    assert result.exit_code == 1
    (failed, *_) = _failed(result)
    assert failed["file"] == "customs/0001-Add-GPU-quota.patch"
    assert "more than the 16777216 allowed in untrusted mode" in failed["message"]


def test_project_limit_is_exit_2_naming_base_commit(gate_repo, monkeypatch):
    bases = gate_repo.repo.bases["sample"]
    gate_repo.repo.set_base("other", bases["upstream"], bases["commit"])
    monkeypatch.setenv("VERDA_PATCH_MAX_PROJECTS", "1")
    result = gate_repo.repo.run("--untrusted", "check")
    assert result.exit_code == 2
    assert "base-commit" in result.stderr and "number of projects is 2" in result.stderr


def test_a_bad_limit_value_is_exit_2(gate_repo, monkeypatch):
    monkeypatch.setenv("VERDA_PATCH_MAX_HUNKS", "0")
    result = gate_repo.repo.run("--untrusted", "check")
    assert result.exit_code == 2
    assert "VERDA_PATCH_MAX_HUNKS='0' is not a positive whole number" in result.stderr


def test_the_repo_cannot_raise_a_limit(gate_repo, monkeypatch):
    (gate_repo.repo.path / "verda-patch.yaml").write_text("max_patches: 100\n")
    monkeypatch.setenv("VERDA_PATCH_MAX_PATCHES", "2")
    result = gate_repo.repo.run("--untrusted", "check")
    assert result.exit_code == 2 and "unknown setting 'max_patches'" in result.stderr


# --- the gate's templates run in untrusted mode -------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def test_ci_templates_run_the_gate_untrusted():
    import yaml

    flow = yaml.safe_load((ROOT / "docs/ci/github-workflow.yml").read_text())
    assert flow["jobs"]["check"]["env"]["VERDA_PATCH_UNTRUSTED"] == "1"
    (play,) = yaml.safe_load((ROOT / "docs/ci/zuul-playbook.yaml").read_text())
    task = play["tasks"][1]["block"][0]
    assert task["environment"]["VERDA_PATCH_UNTRUSTED"] == "1"
    assert "--untrusted check" in task["ansible.builtin.command"]["cmd"]
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert any(h["entry"] == "verda-patch --untrusted check" for h in hooks)


def test_dockerfile_template_builds_untrusted_by_default():
    from verda_patch.scaffold import dockerfile

    text = dockerfile("nova").decode()
    assert "ARG VERDA_PATCH_UNTRUSTED=1" in text
    assert "ENV VERDA_PATCH_UNTRUSTED=${VERDA_PATCH_UNTRUSTED}" in text


def test_apply_patch_script_is_untrusted_unless_told(make_upstream, make_patch_repo, tmp_path):
    import os
    import sys

    from verda_patch.scaffold import init

    upstream = make_upstream("other-teams-mirror")
    repo = make_patch_repo()
    repo.set_base("nova", str(upstream.path), upstream.rev("HEAD"))
    init(repo.path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "verda-patch"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m verda_patch "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    script = ["sh", "scripts/apply_patch.sh", "nova"]
    proc = subprocess.run(script, cwd=repo.path, env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "local path" in proc.stderr
    env["VERDA_PATCH_UNTRUSTED"] = "0"  # a patch repo the user trusts
    proc = subprocess.run(script, cwd=repo.path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
