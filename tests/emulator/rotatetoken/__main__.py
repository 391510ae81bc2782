"""`python -m rotatetoken` (from tests/emulator): the emulator's command line (server.main)."""

from .server import main

if __name__ == "__main__":
    main()
