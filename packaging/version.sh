#!/bin/sh
# Prints the version `make packages` gives the packages and binaries, in the semver form nfpm
# parses: from the nearest vX.Y.Z tag, or from the VERSION file when there is no tag.
#   v1.2.3                  -> 1.2.3
#   v1.2.3-4-gabc1234       -> 1.2.3+git4.gabc1234   (sorts after 1.2.3, for dpkg and rpm)
#   v1.2.3-4-gabc1234-dirty -> 1.2.3+git4.gabc1234.dirty
#   v1.2.3-dirty            -> 1.2.3+dirty
set -eu
cd "$(dirname "$0")/.."
if d=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null); then
	printf '%s\n' "$d" | sed -E 's/^v//; s/-([0-9]+)-g([0-9a-f]+)/+git\1.g\2/; /\+/s/-dirty$/.dirty/; s/-dirty$/+dirty/'
elif [ -s VERSION ]; then
	head -n 1 VERSION
else
	echo "packaging/version.sh: no vX.Y.Z tag and no VERSION file; tag a release or write one (e.g. 0.1.0)" >&2
	exit 1
fi
