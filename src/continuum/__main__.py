"""`python -m continuum`: the same command line as the `continuum` script."""

from continuum.cli import main

if __name__ == "__main__":
    main()
