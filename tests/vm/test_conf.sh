#!/usr/bin/env bash
# bin/vm's configuration files and command table, without a guest.
set -u
cd "$(dirname "$0")/../.." || exit 1
vm=$PWD/bin/vm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pass() { echo "PASS vm-$1"; }
fail() { echo "FAIL vm-$1: $2"; }

# An unknown command: one line, non-zero.
out=$(VM_CONF=$work/none.conf "$vm" frobnicate 2>&1)
if [ $? -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && [[ $out == *"unknown command 'frobnicate'"* ]]; then
	pass unknown_command_one_line
else
	fail unknown_command_one_line "$out"
fi

# vm help names every command, vm help CMD its usage.
if "$vm" help | grep -q "switch list" && "$vm" help create | grep -q "^Usage: vm create"; then
	pass help
else
	fail help "$("$vm" help create 2>&1)"
fi

# A host settings file that is not key=value lines: one line naming file and line.
printf 'vm_dir="/x"\nthis is not a setting\n' >"$work/bad.conf"
out=$(VM_CONF=$work/bad.conf "$vm" list 2>&1)
if [ $? -ne 0 ] && [[ $out == *"bad.conf, line 2"* ]]; then
	pass bad_conf_names_line
else
	fail bad_conf_names_line "$out"
fi
