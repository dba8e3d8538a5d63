"""The HTTP face and the command line: the only place requests arrive."""
