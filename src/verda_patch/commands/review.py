"""`verda-patch review`."""

from verda_patch.cli import not_available

review = not_available("review", "in progress")
