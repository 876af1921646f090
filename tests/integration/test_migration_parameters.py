"""Migration parameters and capabilities over QMP: every member always
present, QEMU's defaults, ranges at both bounds with QEMU's texts,
capability combination rules, all-or-nothing updates, and capabilities
as bool members of MigrationParameters.  One real molt per test."""

import pytest

CAPABILITIES = ['xbzrle', 'rdma-pin-all', 'auto-converge', 'zero-blocks', 'events',
                'postcopy-ram', 'x-colo', 'release-ram', 'return-path',
                'pause-before-switchover', 'multifd', 'dirty-bitmaps', 'postcopy-blocktime',
                'late-block-activate', 'x-ignore-shared', 'validate-uuid',
                'background-snapshot', 'zero-copy-send', 'postcopy-preempt', 'switchover-ack',
                'dirty-limit', 'mapped-ram']

# member: (lowest valid, highest valid, below-range, above-range, message)
RANGES = {
    'announce-initial': (0, 100000, None, 100001, None),
    'announce-max': (0, 100000, None, 100001, None),
    'announce-rounds': (0, 1000, None, 1001, None),
    'announce-step': (1, 10000, 0, 10001, None),
    'throttle-trigger-threshold': (1, 100, 0, 101, 'an integer in the range of 1 to 100'),
    'cpu-throttle-initial': (1, 99, 0, 100, 'an integer in the range of 1 to 99'),
    'cpu-throttle-increment': (1, 99, 0, 100, 'an integer in the range of 1 to 99'),
    'downtime-limit': (0, 2000000, None, 2000001, 'an integer in the range of 0 to 2000000 ms'),
    'multifd-channels': (1, 255, 0, None, 'a value between 1 and 255'),
}


@pytest.fixture
def q(start):
    return start('-S').connect()


def test_query_has_every_member(q):
    p = q.ok('query-migrate-parameters')
    schema = {e['name']: e for e in q.ok('query-qmp-schema')}
    ret = schema[schema['query-migrate-parameters']['ret-type']]
    assert {m['name'] for m in ret['members']} == set(p)
    for c in CAPABILITIES:
        assert p[c] is False


@pytest.mark.parametrize('member', sorted(RANGES))
def test_ranges_at_both_bounds(q, member):
    lo, hi, below, above, text = RANGES[member]
    for v in (lo, hi):
        assert q.cmd('migrate-set-parameters', {member: v}) == {'return': {}}
        assert q.ok('query-migrate-parameters')[member] == v
    for bad in (below, above):
        if bad is None:
            continue
        before = q.ok('query-migrate-parameters')
        r = q.cmd('migrate-set-parameters', {member: bad})
        assert r['error']['class'] == 'GenericError'
        if text:
            assert r['error']['desc'] == "Parameter '%s' expects %s" % (member, text)
        else:
            assert r['error']['desc'].startswith("Parameter '%s' expects " % member)
        assert q.ok('query-migrate-parameters') == before


def test_beyond_the_wire_type(q):
    # As QEMU: the type's own range is checked before the member's.
    r = q.cmd('migrate-set-parameters', {'multifd-channels': 256})
    assert r['error']['desc'] == "Parameter 'multifd-channels' expects uint8_t"
    r = q.cmd('migrate-set-parameters', {'max-bandwidth': 1.5})
    assert r['error']['desc'] == "Parameter 'max-bandwidth' expects uint64"


def test_max_cpu_throttle_relative_to_initial(q):
    q.ok('migrate-set-parameters', {'cpu-throttle-initial': 50})
    r = q.cmd('migrate-set-parameters', {'max-cpu-throttle': 40})
    assert r['error']['desc'] == ("Parameter 'max-cpu-throttle' expects an integer in the "
                                  "range of cpu-throttle-initial to 99")
    assert q.ok('query-migrate-parameters')['max-cpu-throttle'] == 99
    q.ok('migrate-set-parameters', {'max-cpu-throttle': 50})


def test_update_is_all_or_nothing(q):
    before = q.ok('query-migrate-parameters')
    r = q.cmd('migrate-set-parameters', {'downtime-limit': 100, 'multifd-channels': 0})
    assert 'error' in r
    assert q.ok('query-migrate-parameters') == before
    r = q.cmd('migrate-set-capabilities', {'capabilities': [
        {'capability': 'events', 'state': True},
        {'capability': 'switchover-ack', 'state': True}]})
    assert r['error']['desc'] == "Capability 'switchover-ack' requires capability 'return-path'"
    assert q.ok('query-migrate-parameters') == before


def test_sizes_and_lists(q):
    q.ok('migrate-set-parameters', {'max-bandwidth': 1 << 40, 'cpr-exec-command': ['molt', '-S'],
                                    'backend-transfer': ['virtio-net-tap'], 'mode': 'cpr-exec'})
    p = q.ok('query-migrate-parameters')
    assert p['max-bandwidth'] == 1 << 40
    assert p['cpr-exec-command'] == ['molt', '-S']
    assert p['backend-transfer'] == ['virtio-net-tap']
    assert p['mode'] == 'cpr-exec'
    r = q.cmd('migrate-set-parameters', {'backend-transfer': ['bogus']})
    assert r['error']['desc'] == "Parameter 'backend-transfer[0]' does not accept value 'bogus'"


def test_capabilities_are_parameter_members(q):
    caps = q.ok('query-migrate-capabilities')
    assert [c['capability'] for c in caps] == CAPABILITIES
    assert all(c['state'] is False for c in caps)
    q.ok('migrate-set-capabilities', {'capabilities': [
        {'capability': 'events', 'state': True}, {'capability': 'multifd', 'state': True}]})
    p = q.ok('query-migrate-parameters')
    assert p['events'] is True and p['multifd'] is True
    q.ok('migrate-set-parameters', {'auto-converge': True, 'multifd': False})
    on = {c['capability'] for c in q.ok('query-migrate-capabilities') if c['state']}
    assert on == {'events', 'auto-converge'}


@pytest.mark.parametrize('caps,message', [
    (['postcopy-ram', 'x-ignore-shared'], 'Postcopy is not compatible with ignore-shared'),
    (['postcopy-ram', 'multifd'], 'Postcopy is not yet compatible with multifd'),
    (['background-snapshot', 'postcopy-ram'],
     'Background-snapshot is not compatible with postcopy-ram'),
    (['background-snapshot', 'xbzrle'], 'Background-snapshot is not compatible with xbzrle'),
    (['zero-copy-send'], 'Zero copy only available for non-compressed non-TLS multifd migration'),
    (['postcopy-preempt'], 'Postcopy preempt requires postcopy-ram'),
    (['switchover-ack'], "Capability 'switchover-ack' requires capability 'return-path'"),
    (['dirty-limit', 'auto-converge'],
     'dirty-limit conflicts with auto-converge either of then available currently'),
    (['multifd', 'xbzrle'], 'Multifd is not compatible with xbzrle'),
    (['mapped-ram', 'xbzrle'], 'Mapped-ram migration is incompatible with xbzrle'),
])
def test_capability_combinations(q, caps, message):
    r = q.cmd('migrate-set-capabilities', {'capabilities': [
        {'capability': c, 'state': True} for c in caps]})
    assert r == {'error': {'class': 'GenericError', 'desc': message}}
    # The same rule holds when the capabilities come as parameters.
    r = q.cmd('migrate-set-parameters', {c: True for c in caps})
    assert r == {'error': {'class': 'GenericError', 'desc': message}}
    assert not any(c['state'] for c in q.ok('query-migrate-capabilities'))


def test_allowed_combinations(q):
    for caps in (['multifd', 'zero-copy-send'], ['postcopy-ram', 'postcopy-preempt'],
                 ['return-path', 'switchover-ack']):
        q.ok('migrate-set-capabilities', {'capabilities': [
            {'capability': c, 'state': True} for c in caps]})
        q.ok('migrate-set-capabilities', {'capabilities': [
            {'capability': c, 'state': False} for c in caps]})


def test_migration_commands_check_their_arguments(q):
    assert q.ok('query-migrate') == {}
    channel = {'channel-type': 'main',
               'addr': {'transport': 'socket', 'type': 'unix', 'path': '/nonexistent/x'}}
    r = q.cmd('migrate', {'uri': 'unix:/nonexistent/x', 'channels': [channel]})
    assert r['error']['desc'] == "Need either 'uri' or 'channels' argument"
    r = q.cmd('migrate', {'uri': 'unix:/nonexistent/x'})
    assert r['error']['desc'].startswith("Failed to connect to '/nonexistent/x'"), r
    assert q.ok('query-migrate') == {}   # nothing started
    r = q.cmd('migrate-incoming', {'uri': 'unix:/tmp/x'})
    assert r['error']['desc'] == "'-incoming' was not specified on the command line"
    assert q.ok('migrate_cancel') == {}
