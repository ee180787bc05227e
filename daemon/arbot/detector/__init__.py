"""Arbitrage detector: pure, no I/O (see core.py for the formulas)."""

from arbot.detector.core import Detector

__all__ = ["Detector"]
