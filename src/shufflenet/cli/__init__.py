"""The ``shufflenet`` command: a thin layer over the library, one module per room of commands."""
