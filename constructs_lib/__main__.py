import sys

try:
    from .tools.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python loads the command line's modules
    print("interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
