"""`verda-patch cherry-pick`."""

from verda_patch.cli import not_available

cherry_pick = not_available("cherry-pick", "in progress")
