"""Pure functions from decoded Pulse messages to push and job records."""
