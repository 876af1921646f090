// Placeholder: test_visit (being written).
#include <doctest/doctest.h>
