import os
import sys

try:
    from .tools.cli import exit_program, main
except KeyboardInterrupt:  # Ctrl-C while Python loads the command line's modules
    print("interrupted", file=sys.stderr, flush=True)
    # Nothing has started yet; os._exit, because CPython may count this Ctrl-C as unhandled
    # (see exit_program).
    os._exit(130)

exit_program(main())
