"""The main job: run the bridge and a worker on the bundled samples and account for every message."""
