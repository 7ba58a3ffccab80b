"""Offline tools: training and landing a run, stylizing files, speed and quality figures."""
