#!/bin/sh
# Run each fuzz target once over every file of its seed corpus.
pass=0 fail=0
for r in "$@"; do
	n=$(basename "$r")
	dir=tests/fuzz/corpus/$n
	if [ ! -d "$dir" ]; then
		echo "fuzz: no corpus for $n"; fail=$((fail + 1)); continue
	fi
	if "$r" "$dir"/*; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "fuzz-corpus: $pass passed, $fail failed"
[ $fail -eq 0 ]
