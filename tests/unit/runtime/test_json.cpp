// Placeholder: test_json (being written).
#include <doctest/doctest.h>
