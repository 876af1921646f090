// read_image_file(), is_bzimage(); see image_file.h.
#include "hw/boot/image_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime/unique_fd.h"

namespace molt::hw {

Result<std::vector<uint8_t>> read_image_file(const std::string& path) {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error::from_errno(errno, "could not open '" + path + "'");
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return Error::from_errno(errno, "stat '" + path + "'");
    if (!S_ISREG(st.st_mode)) return Error("'" + path + "' is not a regular file");
    if (static_cast<uint64_t>(st.st_size) > kMaxImageBytes) {
        return Error("'" + path + "' is too large (" + std::to_string(st.st_size) + " bytes, the limit is " +
                     std::to_string(kMaxImageBytes >> 20) + " MiB)");
    }
    std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Error::from_errno(n < 0 ? errno : EIO, "read '" + path + "'");
        done += static_cast<size_t>(n);
    }
    return data;
}

bool is_bzimage(std::span<const uint8_t> f) {
    return f.size() > 0x206 && std::memcmp(f.data() + 0x202, "HdrS", 4) == 0;
}

}  // namespace molt::hw
