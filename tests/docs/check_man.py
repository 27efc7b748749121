#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The built man page reads right in any locale.

- Its source is ASCII: every other character (纯真 in --help) is a groff
  escape, so no formatter turns it into "??????" (help2man under LC_ALL=C
  did, issue 24).
- Formatted for an ASCII terminal (LC_ALL=C) it has no run of '?', and
  formatted for UTF-8 it shows 纯真: the escape renders where it can.
- No paragraph is printed twice, and DESCRIPTION does not say the same
  thing twice in other words (it once did: --help's first line and the
  .h2m file's own paragraph).
- Every subcommand the usage names has its section.

Usage: check_man.py PAGE.8 ITM_BINARY
"""

import collections
import itertools
import os
import re
import subprocess
import sys


def render(page, device):
    env = dict(os.environ, LC_ALL="C" if device == "ascii" else "C.UTF-8")
    p = subprocess.run(["groff", "-t", "-man", "-T" + device, "-rLL=80n",
                        "-P-cbou", page], env=env, capture_output=True)
    if p.returncode != 0:
        sys.exit("groff -T%s %s: exit %d: %s" %
                 (device, page, p.returncode, p.stderr.decode()))
    return p.stdout.decode("utf-8" if device == "utf8" else "ascii",
                           "replace")


def paragraphs(text):
    out = []
    for p in re.split(r"\n\s*\n", text):
        p = re.sub(r"\s+", " ", p).strip()
        # Headers, one-line options and short lines may repeat (the same
        # --format flag in two subcommands); sentences may not.
        if len(p) >= 60:
            out.append(p)
    return out


def description_prose(text):
    """The prose paragraphs of DESCRIPTION, before its first option."""
    m = re.search(r"^DESCRIPTION\n(.*?)(?=^\S|^ +-)", text, re.S | re.M)
    return [re.sub(r"\s+", " ", p).strip()
            for p in re.split(r"\n\s*\n", m.group(1) if m else "")
            if p.strip()]


def words(text):
    return set(re.findall(r"[a-z][a-z-]{3,}", text.lower()))


def restated(paras):
    """Pairs of paragraphs where most words of the shorter one are in the
    other: the same description said twice in other words."""
    for a, b in itertools.combinations(paras, 2):
        short, other = sorted((words(a), words(b)), key=len)
        if len(short) >= 6 and len(short & other) >= 0.6 * len(short):
            yield a, b


def main():
    page, binary = sys.argv[1:3]
    errors = []
    src = open(page, "rb").read()
    for n, line in enumerate(src.split(b"\n"), 1):
        if any(b > 0x7F for b in line):
            errors.append("%s:%d: not ASCII: %r" % (page, n, line[:80]))
    ascii_text = render(page, "ascii")
    for m in re.finditer(r".*\?\?.*", ascii_text):
        errors.append("LC_ALL=C rendering has '??': %r" % m.group(0).strip())
    utf8_text = render(page, "utf8")
    if "纯真" not in utf8_text:
        errors.append("UTF-8 rendering does not show 纯真")
    for p, n in collections.Counter(paragraphs(ascii_text)).items():
        if n > 1:
            errors.append("paragraph printed %d times: %r" % (n, p[:100]))
    prose = description_prose(ascii_text)
    if not prose:
        errors.append("no DESCRIPTION text")
    for a, b in restated(prose):
        errors.append("DESCRIPTION says it twice: %r and %r" % (a[:60],
                                                               b[:60]))
    env = dict(os.environ, LC_ALL="C.UTF-8", ITM_LOCALEDIR="")
    usage = subprocess.run([binary, "--help"], env=env, check=True,
                           capture_output=True, text=True).stdout
    subs = re.findall(r"^ +or: \S+ ([a-z]+)\b", usage, re.M)
    if len(subs) < 5:
        errors.append("--help names only %d subcommands: %s" % (len(subs),
                                                               subs))
    for sub in subs:
        if not re.search(r"^%s$" % sub.upper(), ascii_text, re.M):
            errors.append("no %s section" % sub.upper())
    for e in errors:
        print(e)
    print("%s: %d subcommand sections, %d problems" % (page, len(subs),
                                                       len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
