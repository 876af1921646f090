// The QMP handler context of the good test schema (qapi-schema-test.json).
//
// Generated marshallers pass a molt::qmp::Context& through to the
// handwritten qmp_* handlers; the application defines what it is.  For the
// test-codegen executable it is this journal: each handler in
// test_handlers.cpp appends its command name and a short note of what it
// received, so the tests in tests/unit/codegen can check that a marshaller
// called its handler, and with which arguments.
#pragma once

#include <string>
#include <vector>

namespace molt::qmp {

class Context {
public:
    // One line per handler call: "command-name" or "command-name: note".
    std::vector<std::string> calls;

    void record(std::string line) { calls.push_back(std::move(line)); }
    const std::string& last() const {
        static const std::string none;
        return calls.empty() ? none : calls.back();
    }
};

}  // namespace molt::qmp
