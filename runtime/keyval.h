// KEY=VALUE,... parsing with QEMU's semantics (util/keyval.c).
//
// Keys are dotted paths of QAPI names and list indexes (`a.b.0.c`); values
// are strings (`,,` is a literal comma); the last of two equal keys wins;
// dicts whose keys are all indexes become lists (no gaps allowed; of two
// spellings of one index, "0" and "00", QEMU's dict order picks one); the
// first parameter may omit `KEY=` when there is an implied key; `help` or
// `?` alone asks for help.  The result is a JSON object whose leaves are all
// strings; the typed visitors (visit.h, keyval mode) give them meaning.
// Errors use QEMU's texts, e.g. "Parameters 'a.*' used inconsistently".
#pragma once

#include <string_view>

#include "runtime/json.h"
#include "runtime/result.h"

namespace molt {

// Parses params.  If help is null, a help request is the error "Help is
// not available for this option"; otherwise *help tells whether there was
// one.  implied_key may be dotted ("a.b"); empty means none.
Result<Json> keyval_parse(std::string_view params, std::string_view implied_key = {},
                          bool* help = nullptr);

// Merges src into dest (both keyval results): dicts recursively, lists
// concatenated, strings replaced; a string/dict/list clash is the error
// "Parameter 'a.b' used inconsistently".
Result<void> keyval_merge(Json& dest, const JsonValue& src);

}  // namespace molt
