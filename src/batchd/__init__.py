"""batchd: a self-hosted AWS Batch."""

__version__ = "0.1.0"
