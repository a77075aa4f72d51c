"""The ``pyanimf`` command line: ``main`` builds the parser, ``commands`` runs each subcommand."""
