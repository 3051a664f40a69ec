#!/bin/sh
# Build the patched work tree(s) of a verda-patch repo: the entry point for CI
# jobs and Dockerfiles. Usage: scripts/apply_patch.sh PROJECT... | --all
# Any verda-patch apply option works too (--force, --json, ...).
set -eu
if ! command -v verda-patch >/dev/null 2>&1; then
    echo "apply_patch.sh: verda-patch is not installed; run 'pip install verda-patch'" >&2
    exit 127
fi
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
exec verda-patch --repo "$here" apply "$@"
