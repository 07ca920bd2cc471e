"""CallVault: data-security and privacy layer for cloud call centers."""

__version__ = "0.1.0"
__all__ = ["__version__"]
