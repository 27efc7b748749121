#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The documentation holds together.

- Every relative link in the READMEs and docs/ leads to a file that exists,
  and its #anchor to a heading of that page (GitHub's anchor rule).
- Every page of docs/ has its Chinese twin in docs/zh-CN/ (and back), with
  the same headings at the same levels, except the pages listed in
  ENGLISH_ONLY.
- The READMEs stay a front door (at most 400 lines) and keep the two
  quick-start commands that CI runs.
- Every long option of `--help` is in the command-line page, both languages.
- Every example command, URL, scrape target and screen in the shipped docs
  and files uses the exporter's port 10749 (README: "every example and
  shipped file uses it").

Usage: check_docs.py SOURCE_ROOT ITM_BINARY
"""

import glob
import os
import re
import subprocess
import sys

ENGLISH_ONLY = {"ARCHITECTURE.md", "kernel-matrix.md", "live-protocol.md"}
QUICK_START = ("scripts/run.sh -i eth0 -d 0 -p 10749\n", "scripts/test.sh\n")
MAX_README_LINES = 400
PORT = "10749"
# Where the shipped tree names the exporter's port: the monitor's or
# run.sh's -p/--prometheus-port, --web.listen-address, a URL or scrape
# target of /metrics, the live view's "exporter *:PORT" header and the live
# protocol's H line.  Other tools' ports (nfcapd -p 4739, IPFIX collectors)
# match none of these.
PORT_PATTERNS = (
    r"(?:ip_traffic_monitor_cli|run\.sh|\bitm\b)[^\n]*?"
    r"(?:\s-p\s*|--prometheus-port[= ])(\d+)",
    r"--web\.listen-address[= ]\S*?:(\d+)",
    r"https?://[^/\s:'\"]+:(\d+)(?:/metrics|[\s'\"`]|$)",
    r"(?<![\w.])(?:localhost|127\.0\.0\.1|\[::1?\]|\[::\]|0\.0\.0\.0):(\d+)",
    r"exporter\s+\S*:(\d+)",
    r"^H\t\d+\t\d+\t\S*:(\d+)\t",
    r"targets:\s*\[[^\]]*?:(\d+)",
)
PORT_DIRS = ("docs", "doc", "monitoring", "systemd", "debian", "completion",
             "scripts", ".ci", "user")


def headings(text):
    """[(level, title)] outside fenced code blocks."""
    out, fence = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"^(#{1,6}) (.*?)\s*$", line)
        if m:
            out.append((len(m.group(1)), m.group(2)))
    return out


def anchor(title):
    s = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return s.replace(" ", "-")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def check_links(root, pages, errors):
    for page in pages:
        text = re.sub(r"```.*?```", "", read(os.path.join(root, page)),
                      flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, frag = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(page),
                                                 path)) if path else page
            full = os.path.join(root, dest)
            if not os.path.exists(full):
                errors.append("%s: link to %s: no such file" % (page, target))
            elif frag and dest.endswith(".md") and \
                    frag not in {anchor(t) for _, t in headings(read(full))}:
                errors.append("%s: link to %s: no such heading" %
                              (page, target))


def check_twins(root, errors):
    en = {os.path.basename(p) for p in glob.glob(os.path.join(root, "docs",
                                                              "*.md"))}
    zh = {os.path.basename(p) for p in glob.glob(os.path.join(root, "docs",
                                                              "zh-CN", "*.md"))}
    for name in sorted((en - ENGLISH_ONLY) ^ zh):
        errors.append("docs/%s has no twin in %s" %
                      (name, "docs/zh-CN/" if name in en else "docs/"))
    for name in sorted((en - ENGLISH_ONLY) & zh):
        a = [lvl for lvl, _ in headings(read(os.path.join(root, "docs",
                                                          name)))]
        b = [lvl for lvl, _ in headings(read(os.path.join(root, "docs",
                                                          "zh-CN", name)))]
        if a != b:
            errors.append("docs/%s and docs/zh-CN/%s: different headings "
                          "(levels %s / %s)" % (name, name, a, b))


def check_readmes(root, errors):
    for name in ("README.md", "README.zh-CN.md"):
        text = read(os.path.join(root, name))
        if text.count("\n") > MAX_README_LINES:
            errors.append("%s: %d lines, more than %d: move it to docs/" %
                          (name, text.count("\n"), MAX_README_LINES))
        for cmd in QUICK_START:
            if cmd not in text:
                errors.append("%s: quick-start command %r missing" %
                              (name, cmd.strip()))


def check_flags(root, binary, errors):
    env = dict(os.environ, LC_ALL="C.UTF-8", ITM_LOCALEDIR="")
    env.pop("LANGUAGE", None)
    usage = subprocess.run([binary, "--help"], env=env, check=True,
                           capture_output=True, text=True).stdout
    flags = re.findall(r"^ +(?:-\w, )?(--[\w.-]+)", usage, re.M)
    if len(flags) < 10:
        errors.append("--help lists only %d long options" % len(flags))
    for page in ("docs/command-line.md", "docs/zh-CN/command-line.md"):
        text = read(os.path.join(root, page))
        for flag in flags:
            if not re.search(r"`(?:-\w, )?%s\b(?![.-])" % re.escape(flag),
                             text):
                errors.append("%s: %s (in --help) is not documented" %
                              (page, flag))


def shipped_files(root):
    files = ["README.md", "README.zh-CN.md"]
    for d in PORT_DIRS:
        for dirpath, _, names in os.walk(os.path.join(root, d)):
            files += [os.path.relpath(os.path.join(dirpath, n), root)
                      for n in names]
    return sorted(files)


def check_ports(root, errors):
    for name in shipped_files(root):
        try:
            text = read(os.path.join(root, name))
        except (UnicodeDecodeError, OSError):
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for pat in PORT_PATTERNS:
                for port in re.findall(pat, line):
                    if port != PORT:
                        errors.append("%s:%d: port %s in an example, not %s"
                                      % (name, lineno, port, PORT))


def main():
    root, binary = sys.argv[1:3]
    pages = ["README.md", "README.zh-CN.md"] + sorted(
        os.path.relpath(p, root) for p in
        glob.glob(os.path.join(root, "docs", "*.md")) +
        glob.glob(os.path.join(root, "docs", "zh-CN", "*.md")))
    errors = []
    check_links(root, pages, errors)
    check_twins(root, errors)
    check_readmes(root, errors)
    check_flags(root, binary, errors)
    check_ports(root, errors)
    for e in errors:
        print(e)
    print("%d pages checked, %d problems" % (len(pages), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
