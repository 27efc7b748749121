#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The generated bash completion, driven as bash-completion's own tests do:
an interactive bash (`bash -i`, no rc files) sources the completion, sets
COMP_WORDS/COMP_CWORD for a command line, calls the function and prints
COMPREPLY.  Every subcommand is covered: the first word, each one's own
options (not the monitor's), fixed values, and option values.

Then every getopt table in the sources (struct option ... = { {"name", ...)
is compared with what the completion offers in that command: a flag added
to a table is completed, or this fails.

Usage: test_completion.py COMPLETION_FILE BINARY SOURCE_ROOT
"""

import os
import re
import subprocess
import sys

PROG = "ip_traffic_monitor_cli"
# Which command each file's getopt table belongs to.
TABLES = {
    "user/cli/options.c": "",
    "user/geo/lookup_cmd.c": "lookup",
    "user/live/top_cmd.c": "top",
    "user/store/query.c": "query top",
    "user/cli/detach_cmd.c": "detach",
    "user/cli/check_cmd.c": "check",
}


def complete(comp_file, lines):
    """[[words]] -> [COMPREPLY sorted] for each command line (the last word
    is the one being completed)."""
    script = ["source %s || exit 3" % sh_quote(comp_file),
              "complete -p %s >/dev/null || exit 4" % PROG]
    for words in lines:
        script += ["COMP_WORDS=(%s)" % " ".join(sh_quote(w) for w in words),
                   "COMP_CWORD=%d" % (len(words) - 1),
                   "COMP_LINE=%s" % sh_quote(" ".join(words)),
                   "COMP_POINT=${#COMP_LINE}",
                   "COMPREPLY=()",
                   "_%s" % PROG,
                   "printf '%s\\n' \"@@ ${COMPREPLY[*]}\""]
    script.append("exit 0")
    p = subprocess.run(["bash", "--norc", "--noprofile", "-i"],
                       input="\n".join(script) + "\n", text=True,
                       capture_output=True, env=dict(os.environ, PS1="",
                                                     HISTFILE="/dev/null"),
                       cwd="/")
    if p.returncode != 0:
        sys.exit("bash exited %d: %s" % (p.returncode, p.stderr))
    out = [line[3:].split() for line in p.stdout.splitlines()
           if line.startswith("@@ ") or line == "@@"]
    if len(out) != len(lines):
        sys.exit("bash printed %d replies for %d lines: %s" %
                 (len(out), len(lines), p.stderr))
    return [sorted(r) for r in out]


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def table_flags(root, path):
    """Long option names of the getopt tables in one source file (and the
    GEO_LONG_OPTIONS macro where used)."""
    text = open(os.path.join(root, path), encoding="utf-8").read()
    names = re.findall(r'\{\s*"([\w.-]+)",\s*(?:no|required|optional)_argument',
                       text)
    if "GEO_LONG_OPTIONS" in text:
        geo = open(os.path.join(root, "user/geo/geo_flags.h"),
                   encoding="utf-8").read()
        names += re.findall(r'"([\w.-]+)",\s*required_argument', geo)
    return ["--" + n for n in names]


def main():
    comp, binary, root = (os.path.abspath(a) for a in sys.argv[1:4])
    env = dict(os.environ, LC_ALL="C.UTF-8", ITM_LOCALEDIR="")
    main_help = subprocess.run([binary, "--help"], env=env, check=True,
                               capture_output=True, text=True).stdout
    subs = sorted(re.findall(r"^ +or: \S+ ([a-z]+)\b", main_help, re.M))
    help_flags = sorted(set(re.findall(r"^ +(?:-\w, )?(--[\w.-]+)",
                                       main_help, re.M)))
    keys = "remote_ip country province city isp asn process iface".split()
    p = PROG
    cases = [
        # (words, expected COMPREPLY, exact?)
        ([p, ""], subs, True),
        ([p, "q"], ["query"], True),
        ([p, "t"], ["top"], True),
        ([p, "--prometheus-p"], ["--prometheus-port"], True),
        ([p, "-i", "l"], ["lo"], True),
        ([p, "-i", "lo", "--ipfix-transport", ""], ["tcp", "udp"], True),
        ([p, "--ipfix-transport=t"], ["tcp"], True),
        ([p, "--live-group", "roo"], ["root"], True),
        ([p, "--user", "roo"], ["root"], True),
        ([p, "-i", "lo", "--duration", ""], [], True),
        ([p, "lookup", "-"], ["--format", "--geoip-db", "--geoip-lang",
                              "--help", "--isp-db", "-f", "-g", "-h"], True),
        ([p, "lookup", "--format", ""], ["json", "text", "tsv"], True),
        ([p, "lookup", "-f", "t"], ["text", "tsv"], True),
        ([p, "lookup", "--format=j"], ["json"], True),
        ([p, "top", "-"], ["--frames", "--help", "--no-dns", "--no-tui", "--socket",
                           "--top", "-S", "-h", "-n"], True),
        ([p, "top", "--fr"], ["--frames"], True),
        ([p, "query", ""], ["top"], True),
        ([p, "query", "--"], ["--csv", "--db", "--help", "--json"], True),
        # "top" here is the database file, so "top" is still to come.
        ([p, "query", "--db", "top", ""], ["top"], True),
        ([p, "query", "top", "--"], ["--both", "--by", "--csv", "--db",
                                     "--help", "--host", "--json", "--rx",
                                     "--since", "--top", "--tx", "--until"],
         True),
        ([p, "query", "--db", "x.db", "top", "--si"], ["--since"], True),
        ([p, "query", "top", "--by", ""], sorted(keys), True),
        ([p, "query", "top", "--by=c"], ["city", "country"], True),
        ([p, "detach", "-"], ["--help", "--iface", "--pin-dir", "-h", "-i"],
         True),
        ([p, "detach", "-i", "l"], ["lo"], True),
        ([p, "check", "-"], ["--help", "--json", "--verbose", "-h", "-v"],
         True),
        ([p, "check", ""], [], True),
    ]
    lines = [c[0] for c in cases]
    lines.append([p, "--"])
    contexts = {"": [p], "lookup": [p, "lookup"], "top": [p, "top"],
                "query top": [p, "query", "top"], "detach": [p, "detach"],
                "check": [p, "check"]}
    for words in contexts.values():
        lines.append(words + ["--"])
    got = complete(comp, lines)
    errors = []
    for (words, want, exact), reply in zip(cases, got):
        if (reply != sorted(want)) if exact else not set(want) <= set(reply):
            errors.append("%r: got %s, want %s" % (" ".join(words), reply,
                                                   sorted(want)))
    all_main = got[len(cases)]
    for flag in help_flags:
        if flag not in all_main:
            errors.append("--help has %s, '%s --' does not offer it" %
                          (flag, p))
    # Subcommands never offer the monitor's own flags.
    for ctx, reply in zip(contexts, got[len(cases) + 1:]):
        if ctx and "--iface" in reply and ctx != "detach":
            errors.append("'%s --' offers the monitor's --iface" % ctx)
    # Every getopt table's long options are completed in its command.
    by_ctx = dict(zip(contexts, got[len(cases) + 1:]))
    if set(TABLES.values()) != set(contexts):
        errors.append("TABLES and contexts disagree")
    for path, ctx in TABLES.items():
        flags = table_flags(root, path)
        if len(flags) < 3:
            errors.append("%s: only %d options found" % (path, len(flags)))
        for flag in flags:
            if flag not in by_ctx[ctx]:
                errors.append("%s has %s; '%s --' does not offer it" %
                              (path, flag, " ".join(contexts[ctx])))
    # Each fixed value offered is one the program takes.
    for fmt in got[lines.index([p, "lookup", "--format", ""])]:
        r = subprocess.run([binary, "lookup", "--format", fmt, "192.0.2.1"],
                           env=env, capture_output=True)
        if r.returncode != 0:
            errors.append("lookup --format %s: exit %d" % (fmt, r.returncode))
    for e in errors:
        print(e)
    print("%d command lines completed, %d problems" % (len(lines),
                                                       len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
