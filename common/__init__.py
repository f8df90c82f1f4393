"""Shared data, metric, checkpoint and training utilities (never imports ``model``)."""
