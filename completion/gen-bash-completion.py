#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the bash completion for ip_traffic_monitor_cli from its --help.

The options, and which of them take a value, come from the help text of the
binary just built, so the completion cannot drift from the program.  The
value's name in the help says what to offer: IFACE -> network interfaces,
PATH/DB -> files, DIR -> directories, anything else -> nothing (a number).

    gen-bash-completion.py BINARY > ip_traffic_monitor_cli
"""

import re
import subprocess
import sys

OPT_RE = re.compile(r"^\s+(?:(-\w), )?(--[\w-]+)(?: ([A-Z]+))?(?:\s|$)")
KIND = {"IFACE": "iface", "PATH": "file", "DB": "file", "DIR": "dir"}


def options(help_text):
    """[(short or None, long, metavar or None)] in help order."""
    res = []
    for line in help_text.splitlines():
        m = OPT_RE.match(line)
        if m:
            res.append(m.groups())
    return res


def render(prog, opts):
    flags = sorted({o for s, l, _ in opts for o in (s, l) if o})
    by_kind = {"iface": [], "file": [], "dir": [], "value": []}
    for s, l, meta in opts:
        if meta:
            names = [o for o in (s, l) if o]
            by_kind[KIND.get(meta, "value")].extend(names)
    case = []
    for kind, action in (
            ("iface", 'COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))'),
            ("file", 'COMPREPLY=($(compgen -f -- "$cur"))'),
            ("dir", 'COMPREPLY=($(compgen -d -- "$cur"))'),
            ("value", "COMPREPLY=()")):
        if by_kind[kind]:
            case.append("\t%s)\n\t\t%s\n\t\treturn\n\t\t;;" %
                        ("|".join(sorted(by_kind[kind])), action))
    fn = "_" + re.sub(r"\W", "_", prog)
    return """# bash completion for %(prog)s -*- shell-script -*-
# Generated from `%(prog)s --help` at build time; do not edit.

%(fn)s()
{
	local cur prev
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}

	case $prev in
%(case)s
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "%(flags)s" -- "$cur"))
	elif ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W "lookup" -- "$cur"))
	fi
}
complete -o filenames -F %(fn)s %(prog)s
""" % {"prog": prog, "fn": fn, "case": "\n".join(case),
       "flags": " ".join(flags)}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen-bash-completion.py BINARY")
    out = subprocess.run([sys.argv[1], "--help"], capture_output=True,
                         text=True, check=True).stdout
    opts = options(out)
    if not any(l == "--iface" for _, l, _ in opts):
        sys.exit("gen-bash-completion: no options found in --help")
    sys.stdout.write(render("ip_traffic_monitor_cli", opts))


if __name__ == "__main__":
    main()
