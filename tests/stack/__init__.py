"""Tests of the local stack package."""
