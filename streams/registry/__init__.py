"""Repository registry: names, URLs and branch rules of the repositories ingested."""
