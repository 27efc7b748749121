#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Finish the man page that help2man made from the main --help.

help2man reads one --help; the subcommands have their own.  This runs
`EXE SUB --help` for every subcommand the main usage lists and turns each
into a section of its own (LOOKUP, QUERY, ...), put after DESCRIPTION, so
those sections cannot drift from the program either.  Then every character
outside ASCII (纯真 in the help text) becomes a groff \\[uXXXX] escape with
an ASCII fallback: a man page is read in any locale, and raw UTF-8 comes
out as "??????" where the formatter does not expect it.

Usage: man-sections.py EXE IN.8 OUT.8
"""

import os
import re
import subprocess
import sys

OPT_RE = re.compile(r"^ {1,8}(-\S.*?)(?: {2,}(\S.*))?$")


def run_help(exe, sub):
    # The page is English: no catalog (see doc/meson.build), UTF-8 out.
    env = dict(os.environ, LC_ALL="C.UTF-8", ITM_LOCALEDIR="")
    for var in ("LANGUAGE", "LANG", "LC_MESSAGES"):
        env.pop(var, None)
    args = [exe] + ([sub] if sub else []) + ["--help"]
    p = subprocess.run(args, env=env, capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout.startswith("Usage:"):
        sys.exit("%s: exit %d, no usage text: %s" %
                 (" ".join(args), p.returncode, p.stderr.strip()))
    return p.stdout


def subcommands(main_help):
    """Subcommands in the order the main usage names them."""
    prog = os.path.basename(sys.argv[1])
    return re.findall(r"^ +or: %s ([a-z]+)\b" % re.escape(prog), main_help,
                      re.M)


def esc(text):
    """Text for a roff line: backslashes, hyphens, a leading dot."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def bold_options(spec):
    """'-g, --geoip-db PATH' -> the flags in bold, the arguments as they are."""
    return ", ".join(re.sub(r"^((?:\\-)+[^ =]+)", r"\\fB\1\\fR", esc(part))
                     for part in spec.split(", "))


def option_line(line, col):
    """(flags, text or None) of an option line, else None.  A description
    that starts one space after its flags is found at the column where the
    other options' descriptions start."""
    m = OPT_RE.match(line)
    if not m:
        return None
    if m.group(2) is None and col and len(line) > col and \
            line[col - 1] == " " and line[col] != " ":
        return line[:col].strip(), line[col:].strip()
    return m.group(1), m.group(2)


def description_column(lines):
    cols = [len(line) - len(m.group(2)) for line in lines
            for m in [OPT_RE.match(line)] if m and m.group(2)]
    return max(set(cols), key=cols.count) if cols else 0


def help_to_roff(sub, text):
    out = ['.SH "%s"' % sub.upper()]
    lines = text.rstrip("\n").split("\n")
    # Usage: the first line and the indented lines that continue it.
    synopsis = [lines[0][len("Usage:"):].strip()]
    i = 1
    while i < len(lines) and lines[i].startswith(" ") and \
            not OPT_RE.match(lines[i]):
        form = lines[i].strip()
        # Another form of the command starts a line; the rest continue one.
        synopsis.append(form if form.split()[0] == synopsis[0].split()[0]
                        else "    " + form)
        i += 1
    cmd = re.compile(r"^(\S+ %s)\b" % re.escape(sub))
    out += [".nf"] + [cmd.sub(r"\\fB\1\\fR", esc(s)) for s in synopsis]
    out += [".fi", ".PP"]
    col = description_column(lines[i:])
    in_option = False
    for line in lines[i:]:
        m = option_line(line, col)
        if not line.strip():
            in_option = False
            out.append(".PP")
        elif m:
            in_option = True
            out += [".TP", bold_options(m[0])]
            if m[1]:
                out.append(esc(m[1]))
        elif in_option and line.startswith(" "):
            out.append(esc(line.strip()))
        elif re.match(r"^\S.*:$", line):
            in_option = False
            out += ['.SS "%s %s"' % (sub, esc(line[:-1]))]
        else:
            if in_option:
                out.append(".PP")
            in_option = False
            out.append(esc(line.strip()))
    # No empty paragraphs: no .PP before another macro that starts one,
    # nor at the end.
    tidy = []
    for line in out:
        if line in (".PP", ".TP") or line.startswith(".S"):
            while tidy and tidy[-1] == ".PP":
                tidy.pop()
        tidy.append(line)
    while tidy[-1] == ".PP":
        tidy.pop()
    return "\n".join(tidy) + "\n"


# What an ASCII terminal shows instead (.fchar: only where the output
# device has no glyph, so a UTF-8 terminal still shows the characters).
FALLBACK = {"纯": "Chun", "真": "zhen"}


def ascii_roff(text):
    """Non-ASCII characters as \\[uXXXX], each with an ASCII fallback
    (its FALLBACK entry, else U+XXXX) declared after .TH."""
    used = sorted({c for c in text if ord(c) >= 128})
    text = "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in text)
    fchars = "".join(".fchar \\[u%04X] %s\n" % (ord(c), FALLBACK.get(
        c, "U+%04X" % ord(c))) for c in used)
    th = re.search(r"^\.TH .*\n", text, re.M)
    return text[:th.end()] + fchars + text[th.end():]


def main():
    exe, src, dst = sys.argv[1:4]
    page = open(src, encoding="utf-8").read()
    subs = subcommands(run_help(exe, None))
    if not subs:
        sys.exit("%s --help lists no subcommand" % exe)
    sections = "".join(help_to_roff(s, run_help(exe, s)) for s in subs)
    # After DESCRIPTION (which holds the monitor's options): at the next .SH.
    m = re.search(r"^\.SH DESCRIPTION\n.*?(?=^\.SH )", page, re.S | re.M)
    if not m:
        sys.exit("%s: no section after DESCRIPTION" % src)
    page = page[:m.end()] + sections + page[m.end():]
    with open(dst, "w", encoding="ascii") as f:
        f.write(ascii_roff(page))


if __name__ == "__main__":
    main()
