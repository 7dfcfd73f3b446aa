#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# tools/deps.sh and the Makefile's use of it, on the host, with dpkg-query,
# apt-get and id replaced by stand-ins (nothing is installed or removed):
# a user who is not root gets the exact apt-get line and a failure, and
# apt-get never runs; root gets apt-get update and install of exactly the
# missing packages; nothing missing runs nothing; a make entry point stops
# on missing packages before it computes the kernel release. And the
# module's build refuses a 32-bit kernel with a message. TAP.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
. tests/tap.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "TAP version 13"

# Stand-ins: dpkg-query says installed only what $tmp/installed lists,
# apt-get records its arguments, id -u says $FAKE_UID.
mkdir -p "$tmp/bin"
cat >"$tmp/bin/dpkg-query" <<'EOS'
#!/bin/sh
shift 3   # -W -f FORMAT
for p in "$@"; do
	grep -qx "$p" "$FAKE_DIR/installed" 2>/dev/null && echo "$p ii "
done
exit 0
EOS
cat >"$tmp/bin/apt-get" <<'EOS'
#!/bin/sh
echo "$*" >>"$FAKE_DIR/apt-get.calls"
EOS
cat >"$tmp/bin/id" <<'EOS'
#!/bin/sh
[ "$1" = -u ] && { echo "$FAKE_UID"; exit 0; }
exec /usr/bin/id "$@"
EOS
chmod +x "$tmp/bin/"*
export FAKE_DIR=$tmp
fake() {
	# fake UID CMD...: CMD with the stand-ins first in PATH
	local uid=$1
	shift
	rm -f "$tmp/apt-get.calls"
	env -u SHMSTREAM_DEPS_DONE FAKE_UID="$uid" PATH="$tmp/bin:$PATH" "$@" \
		>"$tmp/out" 2>&1
}

: >"$tmp/installed"
fake 1000 tools/deps.sh guest
rc=$?
[ "$rc" -eq 1 ] && [ ! -e "$tmp/apt-get.calls" ] &&
	grep -q '^  apt-get update && apt-get install -y --no-install-recommends .*qemu-system-x86' \
		"$tmp/out" && grep -q ' linux-headers-amd64' "$tmp/out"
tap_result $? "not root, packages missing: exit 1, the exact apt-get line, apt-get not run"
sed 's/^/#   /' "$tmp/out"

printf '%s\n' make gcc qemu-system-x86 >"$tmp/installed"
fake 0 tools/deps.sh guest
rc=$?
[ "$rc" -eq 0 ] && [ "$(sed -n 1p "$tmp/apt-get.calls")" = "update -q" ] &&
	grep -q '^install -y -q --no-install-recommends .*busybox-static' "$tmp/apt-get.calls" &&
	! grep -Eq ' (make|gcc|qemu-system-x86)( |$)' "$tmp/apt-get.calls"
tap_result $? "root: apt-get update, then install of exactly the missing packages"
sed 's/^/#   /' "$tmp/apt-get.calls"

fake 0 tools/deps.sh check
grep -o '^install .*' "$tmp/apt-get.calls" | tr ' ' '\n' | grep -v '^-' | sed 1d |
	sort >>"$tmp/installed"
fake 0 tools/deps.sh check
rc=$?
[ "$rc" -eq 0 ] && [ ! -e "$tmp/apt-get.calls" ]
tap_result $? "everything installed: exit 0, apt-get not run"

fake 0 tools/deps.sh nosuchgroup
[ $? -eq 2 ] && grep -q "no group 'nosuchgroup'" "$tmp/out"
tap_result $? "an unknown group: exit 2 and the groups it knows"

# make demo on a machine without packages: it stops on them, before
# tools/vm/kver (which would say there is no kernel) or any build.
: >"$tmp/installed"
fake 1000 make -s demo
rc=$?
[ "$rc" -ne 0 ] && grep -q 'missing Debian packages' "$tmp/out" &&
	grep -q 'apt-get install' "$tmp/out" && ! grep -q 'kver:' "$tmp/out" &&
	! grep -q 'lib/modules' "$tmp/out"
tap_result $? "make demo without packages stops on them first, with the apt-get line"
sed 's/^/#   /' "$tmp/out"
for goal in "" check bench matrix install deb lint; do
	fake 1000 make -s $goal
	if [ $? -eq 0 ] || ! grep -q 'missing Debian packages' "$tmp/out"; then
		echo "# make $goal: did not stop on missing packages"
		sed 's/^/#   /' "$tmp/out"
		goal=fail
		break
	fi
done
[ "$goal" != fail ]
tap_result $? "make, check, bench, matrix, install, deb, lint: each asks for its packages first"
fake 1000 make -s help
tap_result $? "make help needs no package"

# A 32-bit kernel (CONFIG_64BIT unset) is refused with a message, at once.
kver=$(tools/vm/kver)
make -C "/lib/modules/$kver/build" M="$top" CONFIG_64BIT= modules >"$tmp/out" 2>&1
[ $? -ne 0 ] && grep -q 'shmstream needs a 64-bit kernel (CONFIG_64BIT is not set)' "$tmp/out" &&
	! grep -q ' CC \[M\]' "$tmp/out" && grep -q '^BUILD_EXCLUSIVE_CONFIG="CONFIG_64BIT' dkms.conf
tap_result $? "a kernel without CONFIG_64BIT: the build stops with a message, DKMS skips it"

# Without POSIX mqueues IPC namespaces have no key that cannot be reused.
make -C "/lib/modules/$kver/build" M="$top" CONFIG_POSIX_MQUEUE= modules >"$tmp/out" 2>&1
[ $? -ne 0 ] && grep -q 'shmstream needs CONFIG_POSIX_MQUEUE=y' "$tmp/out" &&
	! grep -q ' CC \[M\]' "$tmp/out" &&
	grep -qx 'BUILD_EXCLUSIVE_CONFIG="CONFIG_64BIT CONFIG_POSIX_MQUEUE"' dkms.conf
tap_result $? "a kernel without CONFIG_POSIX_MQUEUE: the build stops with a message, DKMS skips it"
tap_done
