"""Verifier: account for every published Pulse message in the database and the Kafka topics."""
