"""oc — the OpenCrane model-routing CLI."""

__version__ = "0.1.0"
