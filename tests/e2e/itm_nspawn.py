# SPDX-License-Identifier: MIT
"""A real systemd for the service tests: this machine's own OS booted
read-only under systemd-nspawn, systemd as PID 1, a private network.

The container's root is a tmpfs with the host's /usr mounted read-only
(--volatile=yes), so units, users and settings go into its /etc.  Its /sys
is read-only and has no bpffs, so a private bpffs instance mounted on the
host is bound at /sys/fs/bpf.  The build directory is bound read-only at
/opt/itm.  Commands run inside with nsenter into the init's namespaces.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import itm_e2e as e2e

CAPS = "CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN,CAP_SYS_ADMIN,CAP_SYS_RESOURCE"


def _children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except FileNotFoundError:
        pass
    return out


class Machine:
    """One booted container.  boot() ... poweroff(); binds is a list of
    (host_path, container_path, read_only)."""

    def __init__(self, build_dir, binds=()):
        self.name = "itm%d" % os.getpid()
        self.build_dir = os.path.abspath(build_dir)
        self.binds = list(binds)
        self.proc = None
        self.init = None
        self.tmp = tempfile.mkdtemp(prefix="itm-nspawn-")
        self.bpffs = os.path.join(self.tmp, "bpffs")
        self.log_path = os.path.join(self.tmp, "console.log")

    def boot(self, timeout=180):
        os.mkdir(self.bpffs)
        e2e.sh("mount", "-t", "bpf", "bpf", self.bpffs)
        argv = ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit",
                "--directory=/", "--volatile=yes", "--private-network",
                "--capability=" + CAPS,
                "--system-call-filter=bpf perf_event_open",
                "--bind=%s:/sys/fs/bpf" % self.bpffs,
                "--bind-ro=%s:/opt/itm" % self.build_dir,
                "-M", self.name, "-b", "--console=pipe"]
        for host, inside, ro in self.binds:
            argv.append("--bind%s=%s:%s" % ("-ro" if ro else "", host,
                                             inside))
        # Only as far as basic.target: the host's own services (enabled by
        # presets on this first boot of an empty /etc) stay off.
        argv.append("systemd.unit=basic.target")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.init is None:
            if self.proc.poll() is not None:
                raise RuntimeError("systemd-nspawn exited with %d: %s" %
                                   (self.proc.returncode, self.console()))
            kids = _children(self.proc.pid)
            if kids:
                self.init = kids[0]
            else:
                time.sleep(0.1)
        # Wait for the boot to finish (degraded is fine: units of the host
        # that cannot run in a container fail).
        state = "?"
        while time.monotonic() < deadline:
            p = self.run("systemctl", "is-system-running", check=False)
            state = p.stdout.strip()
            if state in ("running", "degraded"):
                return self
            time.sleep(0.3)
        jobs = self.run("systemctl", "list-jobs", "--no-pager",
                        check=False).stdout if self.init else ""
        raise TimeoutError("container did not finish booting (%s): %s %s" %
                           (state, jobs, self.console()))

    def console(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    @property
    def netns(self):
        return "/proc/%d/ns/net" % self.init

    def run(self, *argv, check=True, timeout=60, input=None):
        return e2e.sh("nsenter", "-t", str(self.init), "-m", "-u", "-i",
                      "-n", "-p", *argv, check=check, timeout=timeout,
                      input=input)

    def write(self, path, text):
        self.run("sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"',
                 "sh", path, input=text)

    def systemctl(self, *args, check=True, timeout=60):
        return self.run("systemctl", "--no-pager", *args, check=check,
                        timeout=timeout)

    def show(self, unit, prop):
        return self.systemctl("show", "-p", prop, "--value",
                              unit).stdout.strip()

    def journal(self, unit):
        """[(priority, message)] that the unit's processes logged in its
        current (or last) invocation."""
        inv = self.show(unit, "InvocationID")
        out = self.run("journalctl", "--no-pager", "-o", "json",
                       "_SYSTEMD_INVOCATION_ID=" + inv).stdout
        res = []
        for line in out.splitlines():
            j = json.loads(line)
            if j.get("_COMM", "").startswith("ip_traffic_mon"):
                res.append((int(j.get("PRIORITY", 6)), j.get("MESSAGE")))
        return res

    def system_journal(self, unit):
        """Messages systemd itself logged about unit."""
        return self.run("journalctl", "--no-pager", "-o", "cat", "-u",
                        unit).stdout

    def host_pid(self, pid):
        """The host's pid of the container's process pid."""
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/status" % p) as f:
                    for line in f:
                        if line.startswith("NSpid:"):
                            ids = line.split()[1:]
                            if len(ids) > 1 and int(ids[-1]) == pid and \
                                    self._in_container(int(p)):
                                return int(p)
                            break
            except OSError:
                continue
        raise LookupError("container pid %d not found" % pid)

    def _in_container(self, hpid):
        try:
            return os.stat("/proc/%d/ns/pid" % hpid).st_ino == \
                os.stat("/proc/%d/ns/pid" % self.init).st_ino
        except OSError:
            return False

    def poweroff(self):
        if self.proc is None:
            return
        if self.proc.poll() is None and self.init:
            self.run("systemctl", "poweroff", check=False, timeout=30)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # A killed systemd-nspawn leaves its init running (re-parented to
        # our PID 1): killing a namespace's init ends the whole container.
        if self.init:
            try:
                os.kill(self.init, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()
        self.proc = None
        e2e.sh("umount", "-l", self.bpffs, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)
