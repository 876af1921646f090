// The one way molt includes RapidJSON, so every file sees the same
// configuration.  RapidJSON is our JSON tree (values, allocators); parsing
// and writing are our own (json_parser.h, json.h) to match QEMU's dialect.
#pragma once

#ifndef RAPIDJSON_HAS_STDSTRING
#define RAPIDJSON_HAS_STDSTRING 1
#endif
#include <rapidjson/document.h>

namespace molt {
using JsonAllocator = rapidjson::MemoryPoolAllocator<rapidjson::CrtAllocator>;
using JsonValue = rapidjson::GenericValue<rapidjson::UTF8<>, JsonAllocator>;
}  // namespace molt
