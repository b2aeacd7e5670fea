"""Write a small placeholder Lambda zip (a `bootstrap` file) for each path given.

moto only stores function code, the local stack runs the real binaries with
`cargo lambda watch`, so the module can be applied without `make package`.
"""

import sys
import zipfile

BOOTSTRAP = b"#!/bin/sh\necho 'placeholder: the local stack runs this function with cargo lambda watch' >&2\nexit 1\n"

for path in sys.argv[1:]:
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        archive.writestr(info, BOOTSTRAP)
