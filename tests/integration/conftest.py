"""pytest set-up for the integration lane: fixtures for molt processes,
and the "# molt-tests: N passed, N failed, N skipped" line that
scripts/test-summary.py counts."""

import os
import subprocess
import tempfile
from typing import Iterator, List

import pytest

from molt_harness import Molt, kvm_usable, net_unusable_reason

_counts = {'passed': 0, 'failed': 0, 'skipped': 0}


@pytest.fixture
def tmpdir_short() -> Iterator[str]:
    """A short temporary directory (UNIX socket paths are limited to 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix='molt-') as d:
        yield d


@pytest.fixture
def start(tmpdir_short: str) -> Iterator:
    """start(*args, **kw) -> Molt; every process is stopped afterwards."""
    started: List[Molt] = []

    def _start(*args: str, **kw) -> Molt:
        m = Molt(tmpdir_short, *args, **kw)
        started.append(m)
        return m
    yield _start
    for m in started:
        m.stop()


@pytest.fixture(params=['tcg', 'kvm'])
def accel(request) -> str:
    """Each accelerator in turn; kvm skips where /dev/kvm does not open
    (the nested KVM lane runs it)."""
    if request.param == 'kvm' and not kvm_usable():
        pytest.skip('/dev/kvm is not available here (the nested KVM lane runs this)')
    return request.param


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace of this test's own (TAP tests run molt in it)."""
    reason = net_unusable_reason()
    if reason:
        pytest.skip(reason)
    name = 'molt-test-%d' % os.getpid()
    subprocess.run(['ip', 'netns', 'add', name], check=True)
    yield name
    subprocess.run(['ip', 'netns', 'del', name], check=False)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == 'call' or (report.when == 'setup' and report.outcome != 'passed'):
        if report.outcome == 'passed':
            _counts['passed'] += 1
        elif report.outcome == 'skipped':
            _counts['skipped'] += 1
        else:
            _counts['failed'] += 1
    elif report.when == 'teardown' and report.outcome == 'failed':
        _counts['failed'] += 1


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    terminalreporter.write_line('# molt-tests: %d passed, %d failed, %d skipped'
                                % (_counts['passed'], _counts['failed'], _counts['skipped']))
