"""`python -m continuum.cli`: the same command line as `continuum`."""

from continuum.cli import main

if __name__ == "__main__":
    main()
