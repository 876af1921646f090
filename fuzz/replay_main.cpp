// The replay driver of the fuzz targets (fuzz/): a main() that runs a
// target's LLVMFuzzerTestOneInput on saved inputs, so the seed corpus and
// every crash ever found run as ordinary tests in every build, GCC's too
// (libFuzzer's own main is only linked with -Dfuzzing=true).
//
//   fuzz-<name>-replay PATH...    each PATH a file or a directory of files
//
// Inputs run in name order, one at a time; a crash or sanitizer report
// ends the process as it would under libFuzzer.  The last line counts
// them for scripts/test-summary.py: "# molt-tests: N passed, 0 failed".
// A missing PATH is an error (a typo must not pass as an empty corpus);
// files whose names start with '.' or are README* are not inputs.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

bool is_input(const fs::path& p) {
    std::string name = p.filename().string();
    return !name.empty() && name[0] != '.' && name.rfind("README", 0) != 0;
}

// The inputs under path, sorted; false if path does not exist.
bool collect(const fs::path& path, std::vector<fs::path>& out) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec)) {
        out.push_back(path);
        return true;
    }
    if (!fs::is_directory(path, ec)) return false;
    std::vector<fs::path> found;
    for (const auto& e : fs::recursive_directory_iterator(path, ec)) {
        if (e.is_regular_file() && is_input(e.path())) found.push_back(e.path());
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
    return !ec;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; i++) {
        if (!collect(argv[i], inputs)) {
            std::fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
            return 1;
        }
    }
    size_t ran = 0;
    for (const fs::path& p : inputs) {
        std::ifstream f(p, std::ios::binary);
        if (!f) {
            std::fprintf(stderr, "replay: %s: cannot read\n", p.c_str());
            return 1;
        }
        std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        std::fprintf(stderr, "replay: %s (%zu bytes)\n", p.c_str(), data.size());
        // A copy of exactly size bytes, as libFuzzer passes: reads past
        // the end are caught by ASan in the sanitizer build.
        std::vector<uint8_t> exact(data);
        LLVMFuzzerTestOneInput(exact.data(), exact.size());
        ran++;
    }
    std::printf("replayed %zu inputs\n", ran);
    std::printf("# molt-tests: %zu passed, 0 failed\n", ran);
    return 0;
}
