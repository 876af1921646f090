#!/usr/bin/env python3
"""`make bench`: runs molt's benchmarks and prints their tables.

- bench/codegen_bench.py: generator wall time on the synthetic large
  schema, side by side with its parse-only time;
- BUILD/bench/keyval-bench: a 10-member MigrationParameters from keyval
  and from the equivalent JSON, ns per operation, and their ratio;
- BUILD/bench/stream-bench: the migration stream library moving 256 MiB
  of guest pages over a unix socketpair (writer thread -> reader), GB/s,
  beside the bare socket, CRC32C and the zero-page check;
- bench/qmp_bench.py: QMP round trips/s (query-status,
  query-migrate-parameters) and start-up to QMP-ready, BUILD/vmm/molt
  side by side with qemu-system-x86_64 (molt alone if QEMU is missing);
- bench/machine_bench.py: exec -> first guest instruction, exec -> QMP
  ready beside QEMU 7.2, dirtier page touches/s with and without dirty
  tracking, virtio-net UDP echo round trips/s, per accelerator;
- bench/migration_bench.py: live migration of 1 GiB and 4 GiB guests
  (all-zero and random RAM, unix socket and tcp loopback), total time,
  downtime (reported, and STOP -> RESUME) and throughput, BUILD/vmm/molt
  side by side with qemu-system-x86_64, both on tcg;
- bench/cpr_bench.py: the guest's pause in a live update (cpr-transfer,
  cpr-exec at 1 GiB and 8 GiB, timed by 1 ms UDP probes through the
  handed-over TAP) beside normal migration, molt's and QEMU 7.2's.

Usage: run.py [BUILD]
"""

import os
import subprocess
import sys


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(here), 'build')
    print('== generator (bench/codegen_bench.py) ==')
    subprocess.run([sys.executable, os.path.join(here, 'codegen_bench.py')],
                   check=True)
    print('\n== MigrationParameters, 10 members (keyval-bench) ==')
    out = subprocess.run([os.path.join(build, 'bench', 'keyval-bench')],
                         check=True, capture_output=True, text=True).stdout
    ns = {}
    for line in out.splitlines():
        name, value = line.split()
        ns[name] = float(value)
        print('%-30s %8.0f ns/op' % (name, ns[name]))
    print('ratio keyval / JSON: whole path %.2f, parser alone %.2f'
          % (ns['keyval-parse-visit-validate']
             / ns['json-parse-visit-validate'],
             ns['keyval-parse-only'] / ns['json-parse-only']))
    print('\n== migration stream, 256 MiB over a socketpair (stream-bench) ==')
    out = subprocess.run([os.path.join(build, 'bench', 'stream-bench')],
                         check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, value = line.split()
        print('%-30s %8.2f GB/s' % (name, float(value)))
    print('\n== QMP round trips and start-up, molt vs QEMU '
          '(bench/qmp_bench.py) ==', flush=True)
    subprocess.run([sys.executable, os.path.join(here, 'qmp_bench.py'),
                    '--molt', os.path.join(build, 'vmm', 'molt')],
                   check=True)
    print('\n== the machine: start-up, dirtier and dirty tracking, virtio-net echo '
          '(bench/machine_bench.py) ==', flush=True)
    subprocess.run([sys.executable, os.path.join(here, 'machine_bench.py'), build],
                   check=True)
    print('\n== live migration, molt vs QEMU on tcg (bench/migration_bench.py) ==',
          flush=True)
    subprocess.run([sys.executable, os.path.join(here, 'migration_bench.py'),
                    '--molt', os.path.join(build, 'vmm', 'molt')],
                   check=True)
    print('\n== live update: the guest\'s pause in cpr-transfer and cpr-exec, beside '
          'normal migration, molt vs QEMU (bench/cpr_bench.py) ==', flush=True)
    subprocess.run([sys.executable, os.path.join(here, 'cpr_bench.py'),
                    '--molt', os.path.join(build, 'vmm', 'molt')],
                   check=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
