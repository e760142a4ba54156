#!/usr/bin/env bash
# tools/vm.bash-completion: sourced into bash, `complete -p vm` names its
# function, which completes commands, guests (vm list), switches (vm switch
# list), ISOs (vm iso) and subcommands, called as bash calls it (COMP_WORDS,
# COMP_CWORD). The switch is only in system.conf; `vm switch list` runs in a
# network namespace of its own all the same.
set -u
cd "$(dirname "$0")/../.." || exit 1
top=$PWD
tests=(complete_registered commands guests switches switch_subcommands install_iso console_port)
if ! unshare -n true 2>/dev/null; then
	for t in "${tests[@]}"; do echo "SKIP vm-completion-$t: needs unshare -n (root) for vm switch list"; done
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/vms"
ln -s "$top/bin/vm" "$work/bin/vm"
echo "vm_dir=\"$work/vms\"" >"$work/vm.conf"
export VM_CONF=$work/vm.conf
"$top/bin/vm" init >/dev/null 2>&1
"$top/bin/vm" create web1 >/dev/null 2>&1
"$top/bin/vm" create web2 >/dev/null 2>&1
"$top/bin/vm" create db >/dev/null 2>&1
printf 'switch_list="public lan"\ntype_public="standard"\ntype_lan="standard"\n' >"$work/vms/.config/system.conf"
touch "$work/vms/.iso/alpine-virt.iso"

# The rest in bash in a namespace of its own, with vm on PATH.
PATH=$work/bin:$PATH unshare -n bash --norc --noprofile -c '
	fails=0
	# shellcheck disable=SC1091
	. "$1/tools/vm.bash-completion"
	comp() { # WORD...: COMPREPLY for the last word, sorted, one line
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_vm vm "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ $//"
	}
	t() { # NAME WANT GOT
		if [ "$2" = "$3" ]; then echo "PASS vm-completion-$1"; else echo "FAIL vm-completion-$1: got [$3], want [$2]"; fails=$((fails + 1)); fi
	}
	t complete_registered "complete -F _vm vm" "$(complete -p vm)"
	t commands "start startall stop stopall | snapshot switch" "$(comp vm st) | $(comp vm sn; echo -n " "; comp vm sw)"
	t guests "web1 web2" "$(comp vm start we)"
	t switches "lan public" "$(comp vm switch destroy "")"
	t switch_subcommands "add address" "$(comp vm switch a)"
	t install_iso "alpine-virt.iso" "$(comp vm install -f db "")"
	t console_port "com1 com2 com3 com4" "$(comp vm console db "")"
	exit $((fails > 0))' sh "$top"
