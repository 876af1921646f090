// Placeholder.
#include "test-qapi-types.h"
