// moltctl's readable output: QMP return values and events as text for
// people (the --json form is the compact JSON writer's, runtime/json.h).
//
// The last stage of moltctl (cli/moltctl.cpp).  A return value prints as
//   status: running            scalars as "key: value" (strings unquoted)
//   ram:                       nested objects indented by two spaces
//     transferred: 0
//   args: a, b, c              lists of scalars on one line
//   channels:                  lists of objects as "- " items
//     - channel-type: main
//       addr:
//         transport: socket
// `{}` prints nothing; a list at the top prints one item per line.  An
// event prints as one line, "SECONDS.MICROSECONDS EVENT key=value ...",
// nested data flattened to dotted keys as molt's keyval syntax spells them.
#pragma once

#include <string>

#include "runtime/json.h"

namespace molt::cli {

// The text for a command's return value, each line ending in '\n'; empty
// for {} and [].
std::string format_readable(const JsonValue& value);

// One line (without '\n') for an event message {"event", "data",
// "timestamp"}.
std::string format_event(const JsonValue& event);

}  // namespace molt::cli
