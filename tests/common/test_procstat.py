"""The benchmark's /proc readings (common.devstack.procstat) against real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from common.devstack.procstat import CompilerShare, compiler_seconds, cpu_seconds

# A loop hot enough that the JVM compiles it at once; it runs until killed.
SPIN = """
public class Spin {
    public static void main(String[] args) {
        long n = 0;
        while (true) { n += System.nanoTime() % 7; if (n == -1) System.out.println(n); }
    }
}
"""


def test_compiler_seconds_counts_a_jvms_jit_threads_and_nothing_else(tmp_path):
    source = tmp_path / "Spin.java"
    source.write_text(SPIN)
    # The source launcher compiles Spin with javac inside the JVM: its JIT compilers are busy from the start.
    java = shutil.which("java")
    assert java, "java is not installed (the Kafka broker needs it too)"
    jvm = subprocess.Popen([java, str(source)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while compiler_seconds([jvm.pid]) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        compiled = compiler_seconds([jvm.pid])
        assert 0 < compiled < cpu_seconds([jvm.pid])  # the compilers' share of the JVM, not all of it
    finally:
        jvm.kill()
        jvm.wait()
    assert compiler_seconds([os.getpid()]) == 0  # Python has no compiler threads
    assert compiler_seconds([jvm.pid]) == 0  # gone: counts nothing, raises nothing


def test_compiler_share_is_none_without_a_broker_to_read_and_zero_for_a_process_without_a_jit():
    assert CompilerShare([]).percent() is None
    share = CompilerShare([os.getpid()])
    time.sleep(0.05)
    assert share.percent() == 0.0
