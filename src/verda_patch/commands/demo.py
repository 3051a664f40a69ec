"""`verda-patch demo`."""

from verda_patch.cli import not_available

demo = not_available("demo", "in progress")
