"""`verda-patch apply`."""

from verda_patch.cli import not_available

apply = not_available("apply", "in progress")
