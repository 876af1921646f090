// Placeholder.
#include <doctest/doctest.h>
