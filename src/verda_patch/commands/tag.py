"""`verda-patch tag`."""

from verda_patch.cli import not_available

tag = not_available("tag", "in progress")
