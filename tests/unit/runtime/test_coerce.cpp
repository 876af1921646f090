// Placeholder: test_coerce (being written).
#include <doctest/doctest.h>
