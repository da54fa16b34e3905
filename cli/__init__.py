"""The ``pygkd`` command line: one small module per command, no logic that the library lacks."""
