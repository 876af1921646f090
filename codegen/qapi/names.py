"""Name rules: QAPI's name grammar and the C/C++ identifiers we derive.

QAPI names consist of letters, digits, '-' and '_', start with a letter
and may carry an 'x-' (experimental) and a '__RFQDN_' (downstream)
prefix.  c_name() is QEMU's mapping (used for clash checks and the
reserved 'q_' namespace); cpp_name() is how molt spells a name in C++:
the same mapping, with a trailing '_' for C++ keywords and macros that
libc may define.  The mapping never changes, so handwritten code can
rely on it.
"""

from __future__ import annotations

import re
from typing import Iterable, List

VALID_NAME = re.compile(r'(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)$',
                        re.IGNORECASE)

_C_WORDS = frozenset('''
    auto break case char const continue default do double else enum extern
    float for goto if int long register return short signed sizeof static
    struct switch typedef union unsigned void volatile while
    inline restrict _Bool _Complex _Imaginary
    _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert _Thread_local
    asm typeof
    bool catch class const_cast delete dynamic_cast explicit false friend
    mutable namespace new operator private protected public reinterpret_cast
    static_cast template this throw true try typeid typename using virtual
    wchar_t and and_eq bitand bitor compl not not_eq or or_eq xor xor_eq
    unix errno mips sparc i386 linux
'''.split())

# C++20 keywords beyond those above, plus names of object-like macros
# that C and POSIX headers define in lower case.
_CPP_EXTRA = frozenset('''
    alignas alignof char8_t char16_t char32_t concept consteval constexpr
    constinit co_await co_return co_yield decltype export noexcept nullptr
    requires static_assert thread_local
    stdin stdout stderr
'''.split())


def c_name(name: str, protect: bool = True) -> str:
    """QEMU's C name: '-' and '.' become '_'; with protect, keywords
    and names starting with a digit get a 'q_' prefix."""
    name = re.sub(r'[^A-Za-z0-9_]', '_', name)
    if protect and (name in _C_WORDS or name[0].isdigit()):
        return 'q_' + name
    return name


def cpp_name(name: str) -> str:
    """molt's C++ identifier for a schema name (member, branch, command
    or event part): c_name without protection, '_' appended to keywords
    and macro-prone words, '_' prepended before a leading digit."""
    name = re.sub(r'[^A-Za-z0-9_]', '_', name)
    if name in _C_WORDS or name in _CPP_EXTRA:
        return name + '_'
    if name[0].isdigit():
        return '_' + name
    return name


def camel_enumerators(values: Iterable[str]) -> List[str]:
    """C++ enumerator names for enum values: CamelCase ('cpr-transfer'
    -> CprTransfer, 'kp_0' -> Kp_0, '1' -> _1); names without a lower
    case letter and with two or more upper case ones get a trailing '_'
    (they could be libc macros).  If two
    values of one enum map to the same name (possible only with
    member-name-exceptions), the whole enum falls back to cpp_name()."""
    values = list(values)
    out = [_camel(v) for v in values]
    if len(set(out)) != len(out):
        return [cpp_name(v) for v in values]
    return out


def _camel(value: str) -> str:
    parts = [p for p in re.split(r'[-_.]', value) if p]
    out = ''
    for i, part in enumerate(parts):
        if part[0].isdigit():
            out += '_' + part if i or not out else part
        else:
            out += part[0].upper() + part[1:]
    if not out or out[0].isdigit():
        out = '_' + out
    if not re.search('[a-z]', out) and len(re.findall('[A-Z]', out)) > 1:
        out += '_'
    return out
