"""The testing kit's own tests: pytester drives the pytest plugin as users run it."""

pytest_plugins = ["pytester"]
