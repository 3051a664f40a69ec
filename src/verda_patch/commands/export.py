"""`verda-patch export`."""

from verda_patch.cli import not_available

export = not_available("export", "in progress")
