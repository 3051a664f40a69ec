#!/bin/sh
# Build the patched work tree(s) of a verda-patch repo: the entry point for CI
# jobs and Dockerfiles. Usage: scripts/apply_patch.sh PROJECT... | --all
# Any verda-patch apply option works too (--force, --json, ...).
# It runs verda-patch in untrusted mode (no credentials or global git config on
# fetch, no local-path upstreams, merged upstream commits only, size limits):
# set VERDA_PATCH_UNTRUSTED=0 for a patch repo you trust, or list a private
# upstream's host in VERDA_PATCH_TRUSTED_HOSTS.
set -eu
VERDA_PATCH_UNTRUSTED=${VERDA_PATCH_UNTRUSTED-1}
export VERDA_PATCH_UNTRUSTED
if ! command -v verda-patch >/dev/null 2>&1; then
    echo "apply_patch.sh: verda-patch is not installed; run 'pip install verda-patch'" >&2
    exit 127
fi
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
exec verda-patch --repo "$here" apply "$@"
