# The modules here are test data, not tests: pytest collects none of them.
collect_ignore_glob = ["*.py"]
