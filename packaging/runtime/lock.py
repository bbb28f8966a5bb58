#!/usr/bin/python3
"""Write package.json and package-lock.json for the Copilot runtime alone,
taken from tests/package-lock.json: the version the tests pin (and its
integrity hash) is the one operators install, and it is written down in
one place only.

usage: lock.py TESTS_LOCK OUTDIR"""

import json
import os
import sys

PKG = "@github/copilot-sdk-linux-x64"
NAME = "copilot-bridge-runtime"


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as f:
        lock = json.load(f)
    entry = lock["packages"]["node_modules/" + PKG]
    if entry.get("dependencies"):
        raise SystemExit(f"{PKG} has dependencies now: lock.py must "
                         "carry them too")
    deps = {PKG: entry["version"]}
    package = {"name": NAME, "private": True,
               "description": "The Copilot runtime copilot-bridge runs, "
                              "as pinned by its tests.",
               "dependencies": deps}
    out = {"name": NAME, "lockfileVersion": 3, "requires": True,
           "packages": {"": {"name": NAME, "dependencies": deps},
                        "node_modules/" + PKG: entry}}
    os.makedirs(sys.argv[2], exist_ok=True)
    for name, obj in (("package.json", package), ("package-lock.json", out)):
        path = os.path.join(sys.argv[2], name)
        with open(path + ".tmp", "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
