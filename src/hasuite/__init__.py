"""hasuite: chaos and high-availability verification for the jewelry-shop stack."""

__version__ = "0.1.0"
