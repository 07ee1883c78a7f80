"""Tests of `r1v4._util`."""
