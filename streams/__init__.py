"""Faust stream-processing app that turns raw Pulse events into push and job records."""
