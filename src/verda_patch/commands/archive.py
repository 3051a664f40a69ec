"""`verda-patch archive`."""

from verda_patch.cli import not_available

archive = not_available("archive", "in progress")
