"""The examples that end each command's ``--help`` (one or two command lines each).

Kept in one table rather than in each command's docstring so they read as a
set; tests/test_cli.py parses every line with the real command definitions,
so an example cannot name an option that does not exist.
"""

from __future__ import annotations

# "command" or "group subcommand" → example command lines
EXAMPLES: dict[str, tuple[str, ...]] = {
    "init": (
        "verda-patch init",
        "verda-patch --repo cloud-patches init",
    ),
    "demo": (
        "verda-patch demo",
        "verda-patch demo ~/verda-tour",
    ),
    "list": (
        "verda-patch list nova",
        "verda-patch list nova --json",
    ),
    "apply": (
        "verda-patch apply nova",
        "verda-patch apply --all -q",
    ),
    "new": (
        "verda-patch new nova fix-quota-check -c general -m 'Fix the quota check'",
        "verda-patch new nova gpu-quota -c customs",
    ),
    "cherry-pick": (
        "verda-patch cherry-pick nova I6ba9c1b4f2f1d7a0c3e5b8d9a2f4c6e8b0d1f3a5",
        "verda-patch cherry-pick nova 5b0887c1a2d3",
    ),
    "export": ("verda-patch export nova",),
    "prune": (
        "verda-patch prune nova",
        "verda-patch prune nova --against stable/2025.2",
    ),
    "import": (
        "verda-patch import nova --quilt debian/patches",
        "verda-patch import nova --branch downstream/2025.1 --from ../nova-fork --yes",
    ),
    "base": (
        "verda-patch base show nova",
        "verda-patch base bump nova 32.0.0 --yes",
    ),
    "base show": ("verda-patch base show nova",),
    "base set": (
        "verda-patch base set nova 32.0.0",
        "verda-patch base set nova 31.0.0 --upstream https://opendev.org/openstack/nova",
    ),
    "base bump": (
        "verda-patch base bump nova 32.0.0",
        "verda-patch base bump nova 32.0.0 --yes",
    ),
    "check": (
        'verda-patch check --junit report.xml --markdown "$GITHUB_STEP_SUMMARY"',
        "verda-patch check nova --against 32.0.0 --against 33.0.0",
    ),
    "review": (
        "verda-patch review nova",
        "verda-patch review nova --check",
    ),
    "archive": ("verda-patch archive nova -o dist/nova.tar.gz",),
    "tag": (
        "verda-patch tag nova --dry-run",
        "verda-patch tag nova",
    ),
    "cache": (
        "verda-patch cache list",
        "verda-patch cache prune --unused-for 30 --yes",
    ),
    "cache list": ("verda-patch cache list",),
    "cache prune": ("verda-patch cache prune --unused-for 30",),
}


def epilog(name: str) -> str | None:
    """The ``--help`` epilog for command ``name``, or None when it has no examples."""
    lines = EXAMPLES.get(name)
    if not lines:
        return None
    # \b keeps click from re-wrapping the lines
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)
