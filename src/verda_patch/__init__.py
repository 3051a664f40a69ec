"""verda-patch: downstream OpenStack changes kept as patch files on pristine upstream."""

__version__ = "0.1.0"
