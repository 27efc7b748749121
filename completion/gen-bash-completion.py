#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the bash completion for ip_traffic_monitor_cli from its help texts.

One source: the binary just built.  `BINARY --help` names the subcommands
(its "or: PROG SUB" lines) and the monitor's options; `BINARY SUB --help`
gives each subcommand's own, and a "WORD:" heading inside it (query's
"top:") the options of a sub-subcommand.  A flag added to a getopt table
and its --help is completed without touching this file
(tests/docs/check_completion.py checks every getopt table against the
result).

What an option's value completes to comes from the help text too:
- fixed values: a metavar or usage form `--opt a|b|c`, or a description
  "one of a, b, c";
- otherwise the metavar: IFACE -> interfaces, PATH/DB/FILE -> files,
  DIR -> directories, GROUP -> groups, --user's NAME -> users; any other
  (a number, a duration, an address) -> nothing.

    gen-bash-completion.py BINARY > ip_traffic_monitor_cli
"""

import os
import re
import subprocess
import sys

PROG = "ip_traffic_monitor_cli"
FLAG = r"--?[A-Za-z0-9][\w.-]*"
# A metavar: upper case (IFACE, PATH|URL, HOST:PORT, [ADDR]:PORT), or the
# fixed values themselves (udp|tcp).
META = r"(?:[\[A-Z][\w:|\[\].]*|[a-z0-9][\w.-]*(?:\|[a-z0-9][\w.-]*)+)"
# An option line: flags separated by ", ", a metavar, then the description
# (two spaces after a bare flag) or the end of the line.
OPT_LINE = re.compile(r"^ {1,8}(%s(?:, %s)*)(?:[ =](%s)(?= |$))?(?: +(.*)|$)"
                      % (FLAG, FLAG, META))
# A flag in a usage line: [--opt ARG], -i IFACE..., [--csv|--json].
USAGE_FLAG = re.compile(r"(%s(?:\|%s)*)(?: ([^\s\]\[|]+(?:\|[^\s\]\[|]+)*))?"
                        % (FLAG, FLAG))
VALUES = re.compile(r"^[a-z0-9][\w.-]*(?:\|[a-z0-9][\w.-]*)+$")
ONE_OF = re.compile(r"\bone of ((?:[a-z0-9][\w.-]*, )+[a-z0-9][\w.-]*)")
KIND = {"IFACE": "iface", "PATH": "file", "DB": "file", "FILE": "file",
        "DIR": "dir", "GROUP": "group"}


def help_text(binary, *args):
    env = dict(os.environ, LC_ALL="C.UTF-8", ITM_LOCALEDIR="")
    for var in ("LANGUAGE", "LANG", "LC_MESSAGES"):
        env.pop(var, None)
    p = subprocess.run([binary, *args, "--help"], env=env,
                       capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout.startswith("Usage:"):
        sys.exit("gen-bash-completion: %s %s --help: exit %d, no usage"
                 % (binary, " ".join(args), p.returncode))
    return p.stdout


class Command:
    """Options of one command: {flag: arg} where arg is None (no value),
    ("values", [...]) or ("kind", kind)."""

    def __init__(self):
        self.opts = {}

    def add(self, flags, meta, desc=""):
        arg = None
        meta = meta.rstrip(".") if meta else meta
        if meta:
            m = ONE_OF.search(desc or "")
            if VALUES.match(meta):
                arg = ("values", meta.split("|"))
            elif m:
                arg = ("values", m.group(1).split(", "))
            elif flags[-1] == "--user":
                arg = ("kind", "user")
            else:
                kinds = {KIND.get(w) for w in meta.split("|")} - {None}
                arg = ("kind", kinds.pop() if len(kinds) == 1 else "value")
        for f in flags:
            old = self.opts.get(f)
            # A usage line's "a|b|c" beats a description's metavar FMT.
            if old is None or (arg and arg[0] == "values"):
                self.opts[f] = arg
            elif arg is None and f not in self.opts:
                self.opts[f] = None

    def alias(self, flags):
        """Flags of one option line share the richest value known."""
        args = [self.opts.get(f) for f in flags]
        best = next((a for a in args if a and a[0] == "values"),
                    next((a for a in args if a), None))
        for f in flags:
            self.opts[f] = best


def parse(text, prog_words):
    """{"": Command, "WORD": Command} of one help text; prog_words is how
    its usage lines start ("PROG" or "PROG SUB")."""
    cmds = {"": Command()}
    cur = cmds[""]
    groups = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        usage = re.match(r"^(?:Usage:| +or:| {4,})\s*%s\b(.*)$"
                         % re.escape(prog_words), line)
        if usage:
            rest = usage.group(1).strip()
            target = cmds[""]
            w = re.match(r"^([a-z]+)\b(?! *[|:])", rest)
            if w and prog_words != PROG:
                target = cmds.setdefault(w.group(1), Command())
            # Usage lines may continue on deeper-indented lines.
            j = i + 1
            while j < len(lines) and re.match(r"^ {8,}\[", lines[j]):
                rest += " " + lines[j].strip()
                j += 1
            if prog_words == PROG:
                # The main usage's other lines are the subcommands'.
                if line.startswith("Usage:"):
                    for m in USAGE_FLAG.finditer(rest):
                        target.add(m.group(1).split("|"), m.group(2))
                continue
            for m in USAGE_FLAG.finditer(rest):
                target.add(m.group(1).split("|"), m.group(2))
            continue
        head = re.match(r"^([a-z]+):$", line)
        if head:
            cur = cmds.setdefault(head.group(1), Command())
            continue
        m = OPT_LINE.match(line)
        if m:
            flags = m.group(1).split(", ")
            cur.add(flags, m.group(2), m.group(3) or "")
            groups.append((cur, flags))
    for cmd, flags in groups:
        cmd.alias(flags)
    return cmds


def subcommands(main_help):
    return re.findall(r"^ +or: %s ([a-z]+)\b" % re.escape(PROG), main_help,
                      re.M)


def bash_words(words):
    return " ".join(sorted(words))


def render(tables):
    """tables: {context: Command}; context "main", "lookup", "query top"."""
    flag_cases, value_cases = [], []
    for ctx, cmd in tables.items():
        flag_cases.append('\t"%s") flags="%s" ;;' %
                          (ctx, bash_words(cmd.opts)))
        by_arg = {}
        for f, arg in cmd.opts.items():
            if arg:
                by_arg.setdefault(arg if arg[0] == "kind"
                                  else ("values", tuple(arg[1])), []).append(f)
        for arg, flags in sorted(by_arg.items()):
            pats = "|".join('"%s:%s"' % (ctx, f) for f in sorted(flags))
            if arg[0] == "values":
                action = 'COMPREPLY=($(compgen -W "%s" -- "$cur"))' % \
                    " ".join(arg[1])
            else:
                action = {
                    "iface": 'COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))',
                    "file": 'compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))',
                    "dir": 'compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"))',
                    "group": 'COMPREPLY=($(compgen -g -- "$cur"))',
                    "user": 'COMPREPLY=($(compgen -u -- "$cur"))',
                    "value": "COMPREPLY=()"}[arg[1]]
            value_cases.append("\t%s)\n\t\t%s\n\t\treturn\n\t\t;;" %
                               (pats, action))
    subs = sorted(c for c in tables if c != "main" and " " not in c)
    nested = {}
    for c in tables:
        if " " in c:
            sub, word = c.split(" ", 1)
            nested.setdefault(sub, []).append(word)
    nested_cases = "\n".join('\t"%s") words="%s" ;;' % (s, bash_words(w))
                             for s, w in sorted(nested.items()))
    with_value = sorted({"%s:%s" % (ctx, f) for ctx, cmd in tables.items()
                         for f, arg in cmd.opts.items() if arg})
    return """# bash completion for %(prog)s -*- shell-script -*-
# Generated at build time from `%(prog)s --help` and each subcommand's
# --help by completion/gen-bash-completion.py; do not edit.

# Options that take a value, as "CONTEXT:FLAG".
_%(fn)s_takes_value()
{
	case $1 in
	%(with_value)s) return 0 ;;
	esac
	return 1
}

_%(fn)s()
{
	local cur prev ctx sub words flags i w
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}

	# The subcommand is the first word; nothing else is one.
	ctx=main
	case ${COMP_WORDS[1]-} in
	%(subs_pat)s) ((COMP_CWORD > 1)) && ctx=${COMP_WORDS[1]} ;;
	esac
	sub=$ctx
	# A second-level word (query top) after the subcommand, not an
	# option's value.
	words=
	case $sub in
%(nested)s
	esac
	if [[ -n $words ]]; then
		for ((i = 2; i < COMP_CWORD; i++)); do
			w=${COMP_WORDS[i]}
			if [[ $w != -* ]] && ! _%(fn)s_takes_value "$sub:${COMP_WORDS[i - 1]}" &&
				[[ " $words " == *" $w "* ]]; then
				ctx="$sub $w"
				words=
				break
			fi
		done
	fi

	# --flag=value
	if [[ $cur == --*=* ]]; then
		prev=${cur%%%%=*}
		cur=${cur#*=}
	fi
	case "$ctx:$prev" in
%(values)s
	esac
	if [[ $ctx == "$sub "* ]] && [[ $cur != -* ]]; then
		:
	elif [[ $cur == -* ]]; then
		case $ctx in
%(flags)s
		esac
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
		return
	fi
	if ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W "%(subs)s" -- "$cur"))
	elif [[ -n $words ]]; then
		COMPREPLY=($(compgen -W "$words" -- "$cur"))
	fi
}
complete -F _%(fn)s %(prog)s
""" % {"prog": PROG, "fn": re.sub(r"\W", "_", PROG),
       "with_value": "|".join('"%s"' % v for v in with_value) or '""',
       "subs_pat": "|".join(subs) or '""', "subs": " ".join(subs),
       "nested": nested_cases,
       "values": "\n".join(value_cases),
       "flags": "\n".join("\t" + c for c in flag_cases)}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen-bash-completion.py BINARY")
    binary = sys.argv[1]
    main_help = help_text(binary)
    tables = {"main": parse(main_help, PROG)[""]}
    if "--iface" not in tables["main"].opts:
        sys.exit("gen-bash-completion: no --iface in --help")
    subs = subcommands(main_help)
    if not subs:
        sys.exit("gen-bash-completion: no subcommands in --help")
    for sub in subs:
        for word, cmd in parse(help_text(binary, sub),
                               "%s %s" % (PROG, sub)).items():
            tables[sub if not word else "%s %s" % (sub, word)] = cmd
    for ctx, cmd in tables.items():
        # Every command takes -h/--help (not every help text lists it); a
        # second-level command (query top) its parent's options too.
        cmd.opts.setdefault("--help", None)
        cmd.opts.setdefault("-h", None)
        if " " in ctx:
            for f, arg in tables[ctx.split(" ")[0]].opts.items():
                cmd.opts.setdefault(f, arg)
    sys.stdout.write(render(tables))


if __name__ == "__main__":
    main()
