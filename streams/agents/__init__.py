"""Faust agents: decode and re-key raw messages, join jobs with their pushes, emit records."""
