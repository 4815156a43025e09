"""Workflow modules the determinism scanner is tested on (tests/unit/test_determinism.py).

`good_*.py` must give no finding; in `bad_*.py` every line that must be reported ends
with `# expect: <what it resolves to>`, and no other line may be. The modules are
imported by that test (where their imports are installed) and parsed by `continuum
lint`; pytest does not collect them (see conftest.py).
"""


def tagged(cls: type) -> type:
    """A class decorator, to show that warnings point at the `class` line."""
    return cls
