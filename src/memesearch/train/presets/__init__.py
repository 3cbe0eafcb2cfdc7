"""Shipped training presets (``NAME.yaml``), read by ``memesearch train --preset NAME``."""
