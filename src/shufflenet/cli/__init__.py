"""The ``shufflenet`` command: a thin layer over the library."""
