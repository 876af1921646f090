// Placeholder: test_validate (being written).
#include <doctest/doctest.h>
