"""Sinks that store accepted records: the database and the dead-letter topic."""
