#!/usr/bin/env bash
# The vm tier: bin/vm (vm-bhyve's workflow) end to end. Runs every
# tests/vm/test_*.sh; each prints PASS, FAIL or SKIP lines of its own.
set -u
cd "$(dirname "$0")/../.." || exit 1
rc=0
for t in tests/vm/test_*.sh; do
	[ -e "$t" ] || continue
	bash "$t" || rc=1
done
exit $rc
