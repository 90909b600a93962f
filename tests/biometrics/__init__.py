"""Tests of the pure face library."""
