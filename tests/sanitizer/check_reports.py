#!/usr/bin/env python3
"""The sanitizer lane's last test: fails if any process of the lane left a
report in the reports directory (ASan, LeakSanitizer, UBSan write there
through log_path; tests/meson.build).  Prints each report, so the lane's
log has them; `make check` empties the directory before the lane runs.

Usage: check_reports.py REPORTS_DIR
"""

import os
import sys


def main() -> int:
    directory = sys.argv[1]
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        names = []
    for name in names:
        path = os.path.join(directory, name)
        with open(path, encoding='utf-8', errors='replace') as fp:
            print('==== %s\n%s' % (path, fp.read()))
    if names:
        print('sanitizer reports: %d (above)' % len(names))
        return 1
    print('sanitizer reports: none')
    return 0


if __name__ == '__main__':
    sys.exit(main())
