"""`python -m rotatetoken` (from tests/emulator): the emulator's command line (server.main)."""

from .server import main

main()
