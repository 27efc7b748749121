# SPDX-License-Identifier: MIT
"""Without privileges: one clear line naming the fix, exit status 2, and
nothing attached.  Both an unprivileged user and root stripped of every
capability (setpriv) are refused before any BPF syscall."""

import subprocess

import pytest


@pytest.mark.parametrize("drop", [
    ["--reuid=65534", "--regid=65534", "--clear-groups"],
    ["--bounding-set=-all"],
], ids=["nobody", "root-without-capabilities"])
def test_refused_without_privileges(topo, itm_bin, pin_base, drop):
    p = subprocess.run(["nsenter", "--net=/run/netns/%s" % topo.mns,
                        "setpriv"] + drop + [itm_bin, "-i", topo.mif, "-d",
                                             "2", "--pin-dir", pin_base],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "root" in lines[0] and "CAP_BPF" in lines[0], lines[0]
    assert topo.attached_programs() == []
