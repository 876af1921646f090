#!/usr/bin/env python3
"""Writes the seed corpora of the C++ fuzz targets (fuzz/corpus/<name>/),
in each target's input format (the comment at the top of fuzz_<name>.cpp).

    make_seeds.py [--stream FILE] [OUTDIR]      (default OUTDIR: fuzz/corpus)

The seeds are what the formats look like in real use: QEMU-style keyval
options and command lines, QMP sessions, a virtio driver's start-up with
chains and frames.  --stream FILE adds a real migration stream as a raw
('r') seed: molt's own, written by `migrate file:FILE` from a stopped
`molt -m 2M -accel tcg` with a virtio-net device (how the committed one was
made); the 's' seeds carry the JSON of that stream's device sections.
Deterministic: run again, the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
from typing import Dict, List

KEYVAL = {
    'kv-plain': b'k\na=1,b.c=2,b.d=x,,y',
    'kv-implied': b'kdriver\nvirtio-net-device,netdev=n0,id=net0',
    'kv-list': b'k\nfoo.0=a,foo.1=b,bar.0.x=1,bar.1.x=2',
    'kv-help': b'kid\nhelp',
    'type-migparams': b'tMigrationParameters\nmode=cpr-transfer,backend-transfer.0=virtio-net-tap,'
                      b'max-bandwidth=1G,downtime-limit=300,multifd-channels=4',
    'type-migparams-json': b'tMigrationParameters\n{"mode": "cpr-exec", '
                           b'"cpr-exec-command": ["molt", "-S"], "tls-authz": null}',
    'type-channel': b'tMigrationChannel\n{"channel-type": "cpr", "addr": {"transport": "socket", '
                    b'"type": "unix", "path": "cpr.sock"}}',
    'type-netdev': b'tNetdev\ntap,id=n0,ifname=tap0,script=no,downscript=no',
    'type-object': b'tObjectOptions\nmemory-backend-memfd,id=ram0,size=64M,share=on',
    'type-machine': b'tMachineOptions\ntype=molt,dumpdtb=x.dtb',
    'cmdline-incoming': b'c' + b'\0'.join([
        b'-m', b'64M', b'-object', b'memory-backend-memfd,id=ram0,size=64M', b'-machine',
        b'memory-backend=ram0', b'-incoming', b'config:mode=cpr-transfer',
        b'-incoming', b'unix:main.sock', b'-global', b'migration.x-ignore-shared=on',
        b'-netdev', b'tap,id=n0', b'-device',
        b'virtio-net-device,netdev=n0,mac=52:54:00:12:34:56']),
    'cmdline-json': b'c' + b'\0'.join([
        b'-incoming', b'{"channel-type": "main", "addr": {"transport": "socket", '
        b'"type": "inet", "host": "::", "port": "4444"}}',
        b'-qmp', b'unix:q.sock,server=on,wait=off',
        b'-serial', b'file:serial.log', b'-compat', b'deprecated-input=reject', b'-smp', b'1',
        b'-name', b'guest=vm,process=molt-vm', b'-S', b'-precreate']),
    'uri-tcp': b'utcp:[::1]:4444',
    'uri-file': b'ufile:/tmp/x.mig,offset=0x1000',
    'uri-chardev': b'uunix:/tmp/q.sock,server=on,wait=off',
}


def qmp(*requests: object, flags: int = 0, raw: bytes = b'') -> bytes:
    return bytes([ord('0') + flags]) + b''.join(
        json.dumps(r).encode() + b'\n' for r in requests) + raw


CAPS = {'execute': 'qmp_capabilities'}
QMP = {
    'session-basic': qmp(CAPS, {'execute': 'query-version', 'id': 1},
                         {'execute': 'query-status'}, {'execute': 'query-commands'}),
    'session-migration': qmp(
        CAPS, {'execute': 'migrate-set-parameters',
               'arguments': {'mode': 'cpr-transfer', 'backend-transfer': ['virtio-net-tap'],
                             'max-bandwidth': 1 << 30, 'downtime-limit': 100}},
        {'execute': 'migrate-set-capabilities',
         'arguments': {'capabilities': [{'capability': 'x-ignore-shared', 'state': True}]}},
        {'execute': 'query-migrate-parameters'}, {'execute': 'query-migrate-capabilities'},
        {'execute': 'query-migrate'}, {'execute': 'migrate_cancel'}),
    'session-precreate': qmp(CAPS, {'execute': 'query-name'}, {'execute': 'stop'},
                             {'execute': 'precreate-exit'}, {'execute': 'cont'}, flags=1),
    'session-errors': qmp({'execute': 'query-status'}, CAPS, CAPS,
                          {'exec-oob': 'query-status', 'id': 'x'}, {'execute': 'nope'},
                          {'execute': 'query-status', 'arguments': {'x': 1}},
                          {'execute': 'getfd', 'arguments': {'fdname': 'f'}},
                          {'execute': 'closefd', 'arguments': {'fdname': 'f'}}, [1], 3,
                          flags=6, raw=b'{"execute": "query-status"]\n{"a": "\\u00e9\xff"}\n{'),
    'session-dirty-rate': qmp(CAPS, {'execute': 'calc-dirty-rate', 'arguments': {'calc-time': 1}},
                              {'execute': 'query-dirty-rate'}, {'execute': 'announce-self',
                              'arguments': {'initial': 50, 'max': 550, 'rounds': 5, 'step': 100}},
                              {'execute': 'x-query-machine-state'}, {'execute': 'query-memdev'},
                              {'execute': 'system_reset'}, {'execute': 'quit'}),
}


def section(sid: str, payload: bytes, version: int = 1, min_version: int = 1,
            instance: int = 0) -> bytes:
    ids = ['vm/status', 'cpu/0', 'serial/com1', 'virtio-net/net0', 'migration/multifd',
           'migration/return-path', 'migration/ram-shared', 'tap/net0', 'unknown/section']
    head = bytes([ids.index(sid)]) if sid in ids else bytes([0xff, len(sid)]) + sid.encode()
    return (b'\0' + head + bytes([instance, version, min_version])
            + struct.pack('<H', len(payload)) + payload)


STATUS = b'{"running": false, "singlestep": false, "status": "paused"}'
SERIAL = (b'{"ier": 0, "lcr": 3, "mcr": 8, "scr": 0, "fcr": 0, "dll": 12, "dlm": 0, '
          b'"overrun": false, "thr-interrupt": false, "rx": [65, 66]}')


def streams(device_payloads: Dict[str, bytes]) -> Dict[str, bytes]:
    devices = b''.join(section(k, v) for k, v in device_payloads.items())
    ram = b'\1\0\2\x11\x22\x33' + b'\2\x10\0\xf0\0' + b'\3\1'
    return {
        's-devices': b's' + ram + devices,
        's-multifd': b's' + section('migration/multifd', struct.pack('>QI', 7, 2)) + ram,
        's-return-path': b's' + section('migration/return-path', b'') + devices,
        's-shared-ram': b's' + section('migration/ram-shared', struct.pack('>QQQ', 1, 2, 4096)),
        's-tap': b's' + section('tap/net0', b'{"fds": 1, "ifname": "tap0"}') + devices,
        's-unknown': b's' + section('vm/status', STATUS, version=9, min_version=2)
                     + section('other/x', b'{}'),
        's-corrupt': b's' + ram + b'\4\x20\0\x01' + devices,
        's-truncated': b's' + ram + devices + b'\5',
        'c-cpr': b'c' + struct.pack('>4sIII', b'MCPR', 1, 50, 0)
                 + b'{"fds": [], "exec-helper": 12}'.ljust(50),
        'c-cpr-fds': b'c' + struct.pack('>4sIII', b'MCPR', 1, 44, 1)
                     + b'{"fds": [{"name": "tap/net0", "index": 0}]}',
        'v-ok': b'vOK\n',
        'v-err': b'vERR the destination refused: section cpu/0\n',
    }


def device_payloads(stream: bytes) -> Dict[str, bytes]:
    """The JSON payloads of a real stream's device sections, by id."""
    out = {}
    for sid in (b'vm/status', b'serial/com1', b'virtio-net/n0', b'cpu/0'):
        at = stream.find(sid)
        if at < 0:
            continue
        start = stream.index(b'{', at)
        text = stream[start:].decode('utf-8', 'replace')
        _, end = json.JSONDecoder().raw_decode(text)
        out[sid.decode().replace('/n0', '/net0')] = text[:end].encode()
    return out


def virtqueue() -> Dict[str, bytes]:
    def mem(at: int, data: bytes) -> bytes:
        return b'\2' + struct.pack('<HB', at, len(data)) + data

    def desc(i: int, addr: int, length: int, flags: int, nxt: int) -> bytes:
        return mem(0x1000 + 16 * i, struct.pack('<QIHH', addr, length, flags, nxt))

    def avail(heads: List[int], idx: int) -> bytes:
        ring = b''.join(struct.pack('<H', h) for h in heads)
        return mem(0x2000, struct.pack('<HH', 0, idx) + ring)

    # Queue size 8; desc 0x1000, avail 0x2000, used 0x3000 (v * 8).
    setup = b'\6\x08' + struct.pack('<HHH', 0x200, 0x400, 0x600) * 2
    hdr = bytes(12)
    frame = hdr + bytes.fromhex('ffffffffffff525400123456 0800') + b'payload' * 4
    chain = desc(0, 0x8000, 12 + 20, 1, 1) + desc(1, 0x8100, 64, 0, 0)
    rx_buffers = (desc(0, 0x9000, 2048, 2, 0) + desc(1, 0x9800, 1024, 3, 2)
                  + desc(2, 0xa000, 1024, 2, 0))
    return {
        'net-tx': b'\0' + setup + chain + mem(0x8000, frame[:32]) + avail([0], 1) + b'\7\1\4',
        'net-rx': b'\0' + rx_buffers + avail([0, 1], 2) + setup + b'\3'
                  + struct.pack('<H', len(frame)) + frame + b'\4\5\4',
        'net-state': (b'\0' + setup + b'\3' + struct.pack('<H', len(frame)) + frame
                      + b'\4\5\1\x1c\0\x70'),
        'echo-chain': b'\1' + setup + desc(0, 0x8000, 16, 1, 1) + desc(1, 0x9000, 32, 2, 0)
                      + mem(0x8000, b'hello, device!!!') + avail([0], 1) + b'\7\0\5',
        'echo-loop': b'\1' + setup + desc(0, 0x8000, 16, 1, 1) + desc(1, 0x8000, 16, 1, 0)
                     + avail([0], 1) + b'\7\0',
        'echo-indirect': b'\1' + setup + desc(0, 0x5000, 32, 4, 0) + avail([0], 1) + b'\7\0',
        'echo-high-ram': b'\3' + b'\6\x04' + struct.pack('<HHH', 0x8200, 0x8400, 0x8600) * 2
                         + b'\7\0\5',
        'registers': b'\0\1\0\1\1\1\2\0\x1c\x01\0\0\0\0\x1c\x03\0\0\0\0\x0c\x01\0\0\0'
                     b'\0\x0d\x08\0\0\0\0\x11\x01\0\0\0\0\x1c\x0f\0\0\0\5\0\x19\xff\xff\xff\xff',
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--stream', help='a real migration stream file')
    ap.add_argument('outdir', nargs='?',
                    default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus'))
    args = ap.parse_args()
    devices = {'vm/status': STATUS, 'serial/com1': SERIAL}
    sets = {'keyval': KEYVAL, 'qmp': QMP, 'virtqueue': virtqueue()}
    stream_seeds = streams(devices)
    if args.stream:
        with open(args.stream, 'rb') as f:
            real = f.read()
        stream_seeds['r-molt-2M-net'] = b'r' + real
        devices.update(device_payloads(real))
        stream_seeds.update(streams(devices))
    sets['migration_stream'] = stream_seeds
    for name, seeds in sets.items():
        d = os.path.join(args.outdir, name)
        os.makedirs(d, exist_ok=True)
        for seed, data in seeds.items():
            with open(os.path.join(d, seed), 'wb') as f:
                f.write(data)


if __name__ == '__main__':
    main()
