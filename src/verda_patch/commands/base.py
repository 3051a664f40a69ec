"""`verda-patch base`."""

from verda_patch.cli import not_available

base = not_available("base", "in progress")
