"""Steady UDP traffic to the echo guest, for tests that update or migrate
it under load and count what is lost.

Run as a program inside a test's network namespace, it sends
"datagram N" to the guest (10.9.0.2:7777) every 10 ms: for SECONDS if
given, else until its stdin closes.  Send times are time.monotonic(),
the same clock as the test's.  It then waits up to 2 s for the
last answers.  It prints "answering" at the first answer, and at the end
one JSON object: {"sent": [send times], "answered": [numbers]}.  A
datagram counts as lost only if it is never answered: a pause makes
answers late, not lost.

Imported, Traffic starts it and returns once the guest answers.
"""

import json
import os
import select
import socket
import subprocess
import sys
import time
from typing import List, Optional, Tuple

GUEST = ('10.9.0.2', 7777)
INTERVAL = 0.01
LAST_ANSWERS = 2.0


def client(seconds: Optional[float]) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    sent: List[float] = []
    answered = set()
    start = time.monotonic()
    end = None if seconds is None else start + seconds
    while True:
        now = time.monotonic()
        sending = end is None or now < end
        if sending and now >= start + len(sent) * INTERVAL:
            s.sendto(b'datagram %d' % len(sent), GUEST)
            sent.append(now)
        watch = [s, sys.stdin] if end is None else [s]
        wait = max(0.0, start + len(sent) * INTERVAL - now) if sending else 0.05
        ready, _, _ = select.select(watch, [], [], wait)
        if sys.stdin in ready and not sys.stdin.readline():
            end = time.monotonic()
        while True:
            try:
                data, _ = s.recvfrom(2048)
            except BlockingIOError:
                break
            if not answered:
                print('answering', flush=True)
            answered.add(int(data.split()[1]))
        if not sending and (len(answered) == len(sent) or now > end + LAST_ANSWERS):
            break
    print(json.dumps({'sent': sent, 'answered': sorted(answered)}))


class Traffic:
    """The client running in namespace ns (for seconds, or until stop()),
    from its first answered datagram on: a loaded machine can take a
    second or more to start it, so no fixed wait would do."""

    def __init__(self, ns: str, seconds: Optional[float] = None,
                 first_answer_within: float = 10.0) -> None:
        self.seconds = seconds
        argv = ['ip', 'netns', 'exec', ns, '/usr/bin/python3', os.path.abspath(__file__)]
        self.proc = subprocess.Popen(argv + ([] if seconds is None else [str(seconds)]),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], first_answer_within)
        if not ready or self.proc.stdout.readline() != 'answering\n':
            self.kill()
            raise AssertionError('the guest answered no datagram within %g s' %
                                 first_answer_within)

    def stop(self, timeout: float = 30.0) -> Tuple[List[float], set]:
        """Ends the traffic (or waits for its seconds to pass) and returns
        (send times, set of the datagrams answered)."""
        wait = timeout + (self.seconds or 0) + LAST_ANSWERS
        out, _ = self.proc.communicate('', timeout=wait)
        assert self.proc.returncode == 0, self.proc.returncode
        result = json.loads(out)
        return result['sent'], set(result['answered'])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


if __name__ == '__main__':
    client(float(sys.argv[1]) if len(sys.argv) > 1 else None)
