"""`verda-patch check`."""

from verda_patch.cli import not_available

check = not_available("check", "in progress")
