"""`verda-patch prune`."""

from verda_patch.cli import not_available

prune = not_available("prune", "in progress")
