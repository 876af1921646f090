// The main() of every doctest executable in tests/unit (one per module,
// registered from the table in tests/unit/meson.build).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
