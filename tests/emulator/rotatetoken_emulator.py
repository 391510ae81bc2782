"""RotateToken's local AWS: moto server plus the package `rotatetoken/` beside this file
(read its docstring for what it changes and why). This launcher keeps the old path working.

Run:  python tests/emulator/rotatetoken_emulator.py --port 5055 [--lambda-bridge URL]
      python tests/emulator/rotatetoken_emulator.py --list-patches
"""

from rotatetoken.server import main

if __name__ == "__main__":
    main()
