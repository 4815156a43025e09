"""Print the version hash of every golden source as JSON; compare with --check.

Runs with no dependency but continuum itself, so the suite can run it under
every Python it finds and prove that one source gives one hash everywhere.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from continuum.hashing import hash_class_source

HERE = Path(__file__).parent


def compute() -> dict[str, str]:
    return {
        path.name: hash_class_source(path.read_text(encoding="utf-8"))
        for path in sorted((HERE / "sources").glob("*.py"))
    }


if __name__ == "__main__":
    hashes = compute()
    if "--check" in sys.argv:
        expected = json.loads((HERE / "hashes.json").read_text(encoding="utf-8"))
        if hashes != expected:
            print(json.dumps({"expected": expected, "got": hashes}, indent=2))
            sys.exit(1)
    print(json.dumps(hashes, indent=2, sort_keys=True))
