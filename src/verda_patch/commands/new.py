"""`verda-patch new`."""

from verda_patch.cli import not_available

new = not_available("new", "in progress")
