"""Tests of the r1v4 toolkit, one folder per package of `r1v4/` (helpers in `helpers/`)."""
