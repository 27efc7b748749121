#!/usr/bin/env bash
# The generated completion loads in bash and completes what --help lists.
#   test-completion.sh COMPLETION_FILE BINARY
set -euo pipefail
file=$1 bin=$2
# shellcheck disable=SC1090
source "$file"
complete -p ip_traffic_monitor_cli >/dev/null

try() { # expected words...
	COMPREPLY=()
	_ip_traffic_monitor_cli
	if [[ "${COMPREPLY[*]}" != "$*" ]]; then
		echo "completing '${COMP_WORDS[*]}': got '${COMPREPLY[*]}', want '$*'" >&2
		exit 1
	fi
}
COMP_WORDS=(ip_traffic_monitor_cli --prometheus-p) COMP_CWORD=1
try --prometheus-port
# The --no-* options, in --help's order, are what completes "--no-".
COMP_WORDS=(ip_traffic_monitor_cli -i lo --no-) COMP_CWORD=3
try $("$bin" --help | grep -oE '^ +(-[a-zA-Z], )?--no-[a-z-]+' | grep -oE -- '--no-[a-z-]+' | sort)
COMP_WORDS=(ip_traffic_monitor_cli -i lo) COMP_CWORD=2
try lo
COMP_WORDS=(ip_traffic_monitor_cli look) COMP_CWORD=1
try lookup
# Every long option in --help is offered.
COMP_WORDS=(ip_traffic_monitor_cli --) COMP_CWORD=1
COMPREPLY=()
_ip_traffic_monitor_cli
for opt in $("$bin" --help | grep -oE '^ +(-[a-z], )?--[a-z.-]+' | grep -oE -- '--[a-z.-]+'); do
	[[ " ${COMPREPLY[*]} " == *" $opt "* ]] || {
		echo "--help has $opt, the completion does not offer it" >&2
		exit 1
	}
done
echo "completion ok: ${#COMPREPLY[@]} long options"
