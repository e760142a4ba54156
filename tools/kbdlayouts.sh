#!/usr/bin/env bash
# Writes bhyve's keyboard layout files (-K) into DIR, one for each line of
# tools/kbdlayouts.list, with build/tools/kbdlayout-gen (`make kbdlayouts`
# runs this for share/bhyve/kbdlayout; the gfx tier for a scratch directory,
# to see that the tree's files are in step with the list and xkb-data).
#   tools/kbdlayouts.sh DIR
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: tools/kbdlayouts.sh DIR}
gen=$top/build/tools/kbdlayout-gen
mkdir -p "$dir"
n=0
while IFS=$'\t' read -r name desc sources; do
	case $name in '' | '#'*) continue ;; esac
	# shellcheck disable=SC2086 # the sources are words
	"$gen" "$name" "$desc" $sources >"$dir/$name.new"
	mv "$dir/$name.new" "$dir/$name"
	n=$((n + 1))
done <"$top/tools/kbdlayouts.list"
echo "kbdlayouts: $n layouts in $dir"
