"""Backups of the lake and restore, with the sink resuming exactly once (docs/operations.md)."""
