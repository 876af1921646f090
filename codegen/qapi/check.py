"""Stage 2: the shape of each top-level expression.

Context-free checks, one definition at a time, in QEMU's order and with
QEMU's messages: which keys a definition may have, name rules, flags,
'if' conditions, features, and the form of members, branches and type
references.  Also normalizes the short forms ('name': 'type' becomes
{'type': 'type'}; a feature or enum value string becomes {'name': ...})
so the model sees one form only.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Union

from .names import VALID_NAME, c_name
from .parser import Expr, Value
from .source import SchemaError, SourceInfo

META_KINDS = ('enum', 'struct', 'union', 'alternate', 'command', 'event')

_KEYS = {
    'enum': (['enum', 'data'], ['if', 'features', 'prefix']),
    'struct': (['struct', 'data'], ['base', 'if', 'features']),
    'union': (['union', 'base', 'discriminator', 'data'],
              ['if', 'features']),
    'alternate': (['alternate', 'data'], ['if', 'features']),
    'command': (['command'],
                ['data', 'returns', 'boxed', 'if', 'features', 'gen',
                 'success-response', 'allow-oob', 'allow-preconfig',
                 'coroutine']),
    'event': (['event'], ['data', 'boxed', 'if', 'features']),
}


def check_name_is_str(name: Value, info: SourceInfo, source: str) -> None:
    if not isinstance(name, str):
        raise SchemaError(info, "%s requires a string name" % source)


def check_name_str(name: str, info: SourceInfo, source: str) -> str:
    """Returns the name's stem (without x- and downstream prefixes)."""
    match = VALID_NAME.match(name)
    if not match or c_name(name, False).startswith('q_'):
        raise SchemaError(info, "%s has an invalid name" % source)
    return match.group(3)


def check_name_upper(name: str, info: SourceInfo, source: str) -> None:
    stem = check_name_str(name, info, source)
    if re.search(r'[a-z-]', stem):
        raise SchemaError(
            info, "name of %s must not use lowercase or '-'" % source)


def check_name_lower(name: str, info: SourceInfo, source: str,
                     permit_upper: bool = False,
                     permit_underscore: bool = False) -> None:
    stem = check_name_str(name, info, source)
    if ((not permit_upper and re.search(r'[A-Z]', stem))
            or (not permit_underscore and '_' in stem)):
        raise SchemaError(
            info, "name of %s must not use uppercase or '_'" % source)


def check_name_camel(name: str, info: SourceInfo, source: str) -> None:
    stem = check_name_str(name, info, source)
    if not re.match(r'[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$', stem):
        raise SchemaError(info, "name of %s must use CamelCase" % source)


def check_defn_name_str(name: str, info: SourceInfo, meta: str) -> None:
    if meta == 'event':
        check_name_upper(name, info, meta)
    elif meta == 'command':
        check_name_lower(
            name, info, meta,
            permit_underscore=name in info.pragma.command_name_exceptions)
    else:
        check_name_camel(name, info, meta)
        if name.endswith('List'):
            raise SchemaError(
                info, "%s name should not end in 'List'" % meta)


def check_keys(value: Dict[str, Value], info: SourceInfo, source: str,
               required: List[str], optional: List[str]) -> None:
    def pprint(elems: object) -> str:
        return ', '.join("'" + e + "'" for e in sorted(elems))  # type: ignore

    missing = set(required) - set(value)
    if missing:
        raise SchemaError(info, "%s misses key%s %s" % (
            source, 's' if len(missing) > 1 else '', pprint(missing)))
    allowed = set(required + optional)
    unknown = set(value) - allowed
    if unknown:
        raise SchemaError(info, "%s has unknown key%s %s\nValid keys are %s."
                          % (source, 's' if len(unknown) > 1 else '',
                             pprint(unknown), pprint(allowed)))


def check_flags(expr: Dict[str, Value], info: SourceInfo) -> None:
    for key in ('gen', 'success-response'):
        if key in expr and expr[key] is not False:
            raise SchemaError(
                info, "flag '%s' may only use false value" % key)
    for key in ('boxed', 'allow-oob', 'allow-preconfig', 'coroutine'):
        if key in expr and expr[key] is not True:
            raise SchemaError(
                info, "flag '%s' may only use true value" % key)
    if 'allow-oob' in expr and 'coroutine' in expr:
        raise SchemaError(
            info, "flags 'allow-oob' and 'coroutine' are incompatible")


def check_if(expr: Dict[str, Value], info: SourceInfo, source: str) -> None:
    def check_cond(cond: Value) -> None:
        if isinstance(cond, str):
            if not re.fullmatch(r'[A-Z][A-Z0-9_]*', cond):
                raise SchemaError(
                    info, "'if' condition '%s' of %s is not a valid "
                    "identifier" % (cond, source))
            return
        if not isinstance(cond, dict):
            raise SchemaError(
                info, "'if' condition of %s must be a string or an object"
                % source)
        check_keys(cond, info, "'if' condition of %s" % source, [],
                   ['all', 'any', 'not'])
        if len(cond) != 1:
            raise SchemaError(
                info, "'if' condition of %s has conflicting keys" % source)
        if 'not' in cond:
            check_cond(cond['not'])
        else:
            op = 'all' if 'all' in cond else 'any'
            operands = cond[op]
            if not isinstance(operands, list):
                raise SchemaError(info, "'%s' condition of %s must be an "
                                  "array" % (op, source))
            if not operands:
                raise SchemaError(
                    info, "'if' condition [] of %s is useless" % source)
            for operand in operands:
                check_cond(operand)

    ifcond = expr.get('if')
    if ifcond is not None:
        check_cond(ifcond)


def normalize_members(members: Optional[Value]) -> None:
    if isinstance(members, dict):
        for key, arg in members.items():
            if not isinstance(arg, dict):
                members[key] = {'type': arg}


def check_type(value: Optional[Value], info: SourceInfo, source: str,
               allow_array: bool = False,
               allow_dict: Union[bool, str] = False) -> None:
    if value is None or isinstance(value, str):
        return
    if isinstance(value, list):
        if not allow_array:
            raise SchemaError(info, "%s cannot be an array" % source)
        if len(value) != 1 or not isinstance(value[0], str):
            raise SchemaError(
                info, "%s: array type must contain single type name"
                % source)
        return
    if not allow_dict:
        raise SchemaError(info, "%s should be a type name" % source)
    if not isinstance(value, dict):
        raise SchemaError(info, "%s should be an object or type name"
                          % source)
    permissive = (isinstance(allow_dict, str)
                  and allow_dict in info.pragma.member_name_exceptions)
    for key, arg in value.items():
        key_source = "%s member '%s'" % (source, key)
        name = key[1:] if key.startswith('*') else key
        check_name_lower(name, info, key_source, permit_upper=permissive,
                         permit_underscore=permissive)
        cname = c_name(name, False)
        if cname == 'u' or cname.startswith('has_'):
            raise SchemaError(info, "%s uses reserved name" % key_source)
        assert isinstance(arg, dict)
        check_keys(arg, info, key_source, ['type'], ['if', 'features'])
        check_if(arg, info, key_source)
        check_features(arg.get('features'), info)
        check_type(arg['type'], info, key_source, allow_array=True)


def check_features(features: Optional[Value], info: SourceInfo) -> None:
    if features is None:
        return
    if not isinstance(features, list):
        raise SchemaError(info, "'features' must be an array")
    features[:] = [f if isinstance(f, dict) else {'name': f}
                   for f in features]
    for feat in features:
        assert isinstance(feat, dict)
        source = "'features' member"
        check_keys(feat, info, source, ['name'], ['if'])
        check_name_is_str(feat['name'], info, source)
        source = "%s '%s'" % (source, feat['name'])
        check_name_lower(str(feat['name']), info, source)
        check_if(feat, info, source)


def check_enum(expr: Dict[str, Value], info: SourceInfo) -> None:
    name = expr['enum']
    members = expr['data']
    prefix = expr.get('prefix')
    if not isinstance(members, list):
        raise SchemaError(info, "'data' must be an array")
    if prefix is not None and not isinstance(prefix, str):
        raise SchemaError(info, "'prefix' must be a string")
    permissive = name in info.pragma.member_name_exceptions
    members[:] = [m if isinstance(m, dict) else {'name': m}
                  for m in members]
    for member in members:
        assert isinstance(member, dict)
        source = "'data' member"
        check_keys(member, info, source, ['name'], ['if', 'features'])
        member_name = member['name']
        check_name_is_str(member_name, info, source)
        assert isinstance(member_name, str)
        source = "%s '%s'" % (source, member_name)
        if member_name[:1].isdigit():
            member_name = 'd' + member_name     # values may start with one
        check_name_lower(member_name, info, source, permit_upper=permissive,
                         permit_underscore=permissive)
        check_if(member, info, source)
        check_features(member.get('features'), info)


def check_struct(expr: Dict[str, Value], info: SourceInfo) -> None:
    name = expr['struct']
    assert isinstance(name, str)
    if isinstance(expr['data'], str):
        # QEMU 7.2 crashes here; 8.1 and later say this.
        raise SchemaError(info, "'data' should be an object or type name")
    check_type(expr['data'], info, "'data'", allow_dict=name)
    check_type(expr.get('base'), info, "'base'")


def check_union(expr: Dict[str, Value], info: SourceInfo) -> None:
    name = expr['union']
    assert isinstance(name, str)
    base = expr['base']
    members = expr['data']
    check_type(base, info, "'base'", allow_dict=name)
    check_name_is_str(expr['discriminator'], info, "'discriminator'")
    if not isinstance(members, dict):
        raise SchemaError(info, "'data' must be an object")
    for key, value in members.items():
        source = "'data' member '%s'" % key
        assert isinstance(value, dict)
        check_keys(value, info, source, ['type'], ['if'])
        check_if(value, info, source)
        check_type(value['type'], info, source, allow_array=not base)


def check_alternate(expr: Dict[str, Value], info: SourceInfo) -> None:
    members = expr['data']
    if not members:
        raise SchemaError(info, "'data' must not be empty")
    if not isinstance(members, dict):
        raise SchemaError(info, "'data' must be an object")
    for key, value in members.items():
        source = "'data' member '%s'" % key
        check_name_lower(key, info, source)
        assert isinstance(value, dict)
        check_keys(value, info, source, ['type'], ['if'])
        check_if(value, info, source)
        check_type(value['type'], info, source, allow_array=True)


def check_command(expr: Dict[str, Value], info: SourceInfo) -> None:
    args = expr.get('data')
    boxed = expr.get('boxed', False)
    if boxed and args is None:
        raise SchemaError(info, "'boxed': true requires 'data'")
    check_type(args, info, "'data'", allow_dict=not boxed)
    check_type(expr.get('returns'), info, "'returns'", allow_array=True)


def check_event(expr: Dict[str, Value], info: SourceInfo) -> None:
    args = expr.get('data')
    boxed = expr.get('boxed', False)
    if boxed and args is None:
        raise SchemaError(info, "'boxed': true requires 'data'")
    check_type(args, info, "'data'", allow_dict=not boxed)


_CHECKERS = {
    'enum': check_enum, 'struct': check_struct, 'union': check_union,
    'alternate': check_alternate, 'command': check_command,
    'event': check_event,
}


def check_exprs(exprs: List[Expr]) -> List[Expr]:
    """Checks and normalizes every definition; returns exprs."""
    for elem in exprs:
        expr, info, doc = elem.expr, elem.info, elem.doc
        if 'include' in expr:
            continue
        metas = expr.keys() & set(META_KINDS)
        if len(metas) != 1:
            raise SchemaError(
                info, "expression must have exactly one key 'enum', "
                "'struct', 'union', 'alternate', 'command', 'event'")
        meta = metas.pop()
        check_name_is_str(expr[meta], info, "'%s'" % meta)
        name = str(expr[meta])
        info.set_defn(meta, name)
        check_defn_name_str(name, info, meta)
        if doc:
            if doc.symbol != name:
                raise SchemaError(
                    info, "documentation comment is for '%s'" % doc.symbol)
            if doc.has_section('Returns') and meta != 'command':
                # QEMU 7.2 points at the doc comment, not the definition.
                raise SchemaError(doc.info,
                                  "'Returns:' is only valid for commands")
        elif info.pragma.doc_required:
            raise SchemaError(info, "documentation comment required")
        required, optional = _KEYS[meta]
        check_keys(expr, info, meta, required, optional)
        if meta in ('union', 'alternate', 'struct', 'command', 'event'):
            normalize_members(expr.get('data'))
        if meta == 'union':
            normalize_members(expr.get('base'))
        _CHECKERS[meta](expr, info)
        check_if(expr, info, meta)
        check_features(expr.get('features'), info)
        check_flags(expr, info)
    return exprs
