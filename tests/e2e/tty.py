# SPDX-License-Identifier: MIT
"""Run a program on a pseudo-terminal and read its screen back.

The program gets a pty as its controlling terminal (stdin, stdout and
stderr), of a size we choose and can change (which sends it SIGWINCH);
everything it writes is fed to a pyte terminal emulator, so tests look at
the screen a person would see, wide characters included."""

import fcntl
import os
import re
import signal
import struct
import subprocess
import termios
import threading
import time

import pyte
from pyte import modes as mo


class FaithfulScreen(pyte.Screen):
    """pyte's screen plus what ncurses sends for TERM=xterm and plain pyte
    ignores, which would leave false garbage on the screen: REP (CSI n b,
    repeat the last character), SU/SD (CSI n S / CSI n T, scroll the
    scrolling region).  It also counts automatic wraps on the alternate
    screen (the full-screen view's): text that ran past the right margin,
    an overflow in display cells.  (Log lines before and after it are
    the terminal's to wrap.)"""

    ALT = 1049

    def __init__(self, columns, lines):
        super().__init__(columns, lines)
        self.last_char = None
        self.wraps = 0
        self.wrap_log = []
        self.fed = 0
        self.alt = False
        # After a resize, what the program drew for the old size until it
        # saw SIGWINCH may wrap: not counted until Terminal.settled().
        self.settling = False

    def set_mode(self, *modes, **kwargs):
        if kwargs.get("private") and self.ALT in modes:
            self.alt = True
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes, **kwargs):
        if kwargs.get("private") and self.ALT in modes:
            self.alt = False
        super().reset_mode(*modes, **kwargs)

    def draw(self, data):
        from wcwidth import wcwidth
        for ch in data:
            w = wcwidth(ch)
            if w > 0:
                if (self.alt and not self.settling and
                        mo.DECAWM in self.mode and
                        self.cursor.x + w > self.columns and
                        self.cursor.x > 0):
                    self.wraps += 1
                    self.wrap_log.append((self.cursor.y, self.columns,
                                          self.fed))
                self.last_char = ch
            super().draw(ch)

    def repeat_last(self, count=None, *args, **kwargs):
        if self.last_char is not None:
            self.draw(self.last_char * max(count or 1, 1))

    def _region(self):
        top, bottom = 0, self.lines - 1
        if self.margins:
            top, bottom = self.margins.top, self.margins.bottom
        return top, bottom

    def scroll_up(self, count=None, *args, **kwargs):
        top, bottom = self._region()
        n = max(count or 1, 1)
        for _ in range(n):
            for y in range(top, bottom):
                self.buffer[y] = self.buffer[y + 1]
            self.buffer.pop(bottom, None)
        self.dirty.update(range(top, bottom + 1))

    def scroll_down(self, count=None, *args, **kwargs):
        top, bottom = self._region()
        n = max(count or 1, 1)
        for _ in range(n):
            for y in range(bottom, top, -1):
                self.buffer[y] = self.buffer[y - 1]
            self.buffer.pop(top, None)
        self.dirty.update(range(top, bottom + 1))


class FaithfulStream(pyte.ByteStream):
    csi = dict(pyte.ByteStream.csi, b="repeat_last", S="scroll_up",
               T="scroll_down")


def cells(line):
    """Display cells of a string (wide characters take two)."""
    from wcwidth import wcswidth, wcwidth
    n = wcswidth(line)
    return n if n >= 0 else sum(max(wcwidth(c), 0) for c in line)


class Terminal:
    def __init__(self, argv, cols=120, rows=30, env=None, user=None,
                 group=None, extra_groups=None, term="xterm",
                 lang="C.UTF-8"):
        self.cols, self.rows = cols, rows
        self.screen = FaithfulScreen(cols, rows)
        self.stream = FaithfulStream(self.screen)
        self.lock = threading.Lock()
        self.raw = bytearray()
        self.master, slave = os.openpty()
        self._set_size(slave, cols, rows)
        e = dict(os.environ if env is None else env)
        e.update({"TERM": term, "LANG": lang, "LC_ALL": lang})
        e.pop("COLUMNS", None)
        e.pop("LINES", None)

        def child_setup():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=e,
            preexec_fn=child_setup, close_fds=True, user=user, group=group,
            extra_groups=extra_groups)
        os.close(slave)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @staticmethod
    def _set_size(fd, cols, rows):
        fcntl.ioctl(fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))

    def _read(self):
        while True:
            try:
                b = os.read(self.master, 65536)
            except OSError:  # EIO once the child side is closed
                return
            if not b:
                return
            with self.lock:
                self.screen.fed = len(self.raw)
                self.raw += b
                self.stream.feed(b)

    # ---- input
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        os.write(self.master, data)

    def resize(self, cols, rows):
        """The kernel sends SIGWINCH to the terminal's foreground group."""
        with self.lock:
            self.cols, self.rows = cols, rows
            self.screen.resize(rows, cols)
            self.screen.settling = True
        self._set_size(self.master, cols, rows)

    def settled(self):
        """The program draws for the new size now (its layout for that size
        is on the screen): count wraps again."""
        with self.lock:
            self.screen.settling = False

    # ---- output
    def lines(self):
        with self.lock:
            return [self.screen.display[i].rstrip()
                    for i in range(self.screen.lines)]

    def text(self):
        return "\n".join(self.lines())

    def output(self):
        with self.lock:
            return bytes(self.raw).decode("utf-8", "replace")

    def wait_for(self, pred, timeout=20, what="the screen"):
        """Poll until pred(lines) is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            v = pred(self.lines())
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s; screen:\n%s"
                                     % (what, self.text()))
            if self.proc.poll() is not None:
                time.sleep(0.2)  # let the reader catch the last output
                v = pred(self.lines())
                if v:
                    return v
                raise AssertionError(
                    "program exited (%s) while waiting for %s; output:\n%s"
                    % (self.proc.returncode, what, self.output()[-3000:]))
            time.sleep(0.05)

    def wait_exit(self, timeout=30):
        try:
            rc = self.proc.wait(timeout)
        finally:
            self._reader.join(5)
        return rc

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._reader.join(5)
        try:
            os.close(self.master)
        except OSError:
            pass


# ---------------------------------------------------------------- screens

_UNITS = {"B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
# Bits, as the b key shows them: SI steps, in bytes.
_BITS = {"b": 1 / 8, "Kb": 1e3 / 8, "Mb": 1e6 / 8, "Gb": 1e9 / 8,
         "Tb": 1e12 / 8}


def parse_rate(s):
    """'1.23K' (bytes) or '9.84Kb' (bits) -> (value in bytes/s, half a
    unit of the last digit)."""
    if s == "0":
        return 0.0, 0.5
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?([BKMGTP]|[KMGT]?b)", s)
    assert m, "not a rate: %r" % s
    frac = m.group(2) or ""
    unit = _BITS.get(m.group(3)) or _UNITS[m.group(3)]
    v = float(m.group(1) + ("." + frac if frac else "")) * unit
    return v, 0.5 * unit / (10 ** len(frac))


def table(lines, header_prefix):
    """Rows under the column header line that starts with header_prefix,
    as dicts keyed by column name.  Columns are found from the header:
    numbers are right-aligned under their name, text left-aligned."""
    for i, line in enumerate(lines):
        if line.startswith(header_prefix):
            break
    else:
        return None
    header = lines[i]
    names = [(m.start(), m.end(), m.group(0).rstrip("*"))
             for m in re.finditer(r"(?:TX|RX)(?:/s| \d+s| BYTES)\*?|[A-Z]+\*?",
                                  header)]
    rows = []
    for line in lines[i + 1:]:
        if not line.strip() or line.startswith(("q quit", "TOTAL ")):
            break
        rows.append(split_row(line, header, names))
    return rows


def _cells(line):
    """Map display column -> character (wide characters take two)."""
    from wcwidth import wcwidth
    out = []
    for ch in line:
        out.append(ch)
        if wcwidth(ch) == 2:
            out.append("")
    return out


TEXT_COLUMNS = ("ADDRESS", "HOST", "PID", "PROCESS", "COUNTRY", "PROVINCE",
                "CITY", "ISP", "ASN")


def split_row(line, header, names):
    """Cut a row into columns (in display cells): numbers are right-aligned
    and end where their header name ends; text starts where its header
    name starts and runs up to the next column's value."""
    cells = _cells(line) + [" "] * 400
    begin = {}
    for k, (start, end, name) in enumerate(names):
        if name in TEXT_COLUMNS:
            begin[k] = start
        else:
            i = end
            while i > 0 and cells[i - 1] not in (" ", ""):
                i -= 1
            begin[k] = i
    row = {}
    for k, (start, end, name) in enumerate(names):
        if name in TEXT_COLUMNS:
            stop = begin[k + 1] if k + 1 < len(names) else len(cells)
            row[name] = "".join(cells[start:stop]).strip()
        else:
            row[name] = "".join(cells[begin[k]:end]).strip()
    return row
