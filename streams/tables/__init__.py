"""Changelog-backed Faust tables of the join agent and the parked-job bookkeeping."""
