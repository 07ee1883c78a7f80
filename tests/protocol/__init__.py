"""Tests of `r1v4.protocol`."""
