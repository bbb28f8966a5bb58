#!/usr/bin/python3
"""Calls go one way: a file may call functions of its own layer and of the
layers below it, never above.  tests/layers.conf names, for each program,
its layers from the top down, and in [common] the shared modules (common/,
ipc/) that form the bottom layers of every program.  Every source file of a
program must be in a layer.  The calls are read from the objects' symbol
tables with nm (a call through a function pointer is not a call here: that is
how a lower layer reports upwards).

usage: layering.py BUILD_DIR   (exit 1 and one line per violation)"""

import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent


def parse_conf(path):
    """{program: [[file, ...] per layer, top first]}; the [common] section
    (the modules every program links) goes below each program's own."""
    progs, cur = {}, None
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = progs.setdefault(line[1:-1], [])
            continue
        if cur is None:
            raise SystemExit(f"{path}: layer before any [program]")
        cur.append(line.split())
    common = progs.pop("common", [])
    return {p: layers + common for p, layers in progs.items()}


def symbols(obj):
    """(defined, undefined) global symbols of one object."""
    out = subprocess.run(["nm", "-P", str(obj)], capture_output=True,
                         text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        name, kind = f[0], f[1]
        if kind == "U":
            undefined.add(name)
        elif kind in "TDBRGSVW":
            defined.add(name)
    return defined, undefined


OWN = {"supervisor": ["supervisor/*.c"], "sessiond": ["sessiond/*.c"],
       "worker": ["worker/*.c", "worker/adapters/*.c"]}
SHARED = ["common/*.c", "ipc/*.c"]


def unlisted(prog, rank, top):
    """Files of the program (its own and the shared ones every program
    links) that no layer names: a new file must be placed."""
    out = []
    for pat in OWN.get(prog, []) + SHARED:
        for src in sorted(top.glob(pat)):
            rel = str(src.relative_to(top))
            if rel not in rank:
                out.append(f"{prog}: {rel} is in no layer of tests/layers.conf")
    return out


def check(build, progs, top=TOP):
    errors = []
    for prog, layers in progs.items():
        rank, files = {}, []
        for i, layer in enumerate(layers):
            for pat in layer:
                matched = sorted(top.glob(pat))
                if not matched:
                    errors.append(f"{prog}: {pat} in layers.conf matches no file")
                for src in matched:
                    rel = str(src.relative_to(top))
                    if rel in rank:
                        errors.append(f"{prog}: {rel} is in two layers")
                    rank[rel] = i
                    files.append(rel)
        errors += unlisted(prog, rank, top)
        owner, needs = {}, {}
        for rel in files:
            obj = build / "obj" / Path(rel).with_suffix(".o")
            if not obj.exists():
                errors.append(f"{prog}: {obj} not built")
                continue
            d, u = symbols(obj)
            for s in d:
                owner[s] = rel
            needs[rel] = u
        for rel, undef in needs.items():
            for s in sorted(undef):
                callee = owner.get(s)
                if callee is not None and rank[callee] < rank[rel]:
                    errors.append(f"{prog}: {rel} calls {s}() of {callee}, "
                                  f"a layer above it")
    return errors


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    errors = check(Path(sys.argv[1]), parse_conf(TOP / "tests" / "layers.conf"))
    for e in errors:
        print("layering:", e)
    print(f"layering: {len(errors)} violation(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
