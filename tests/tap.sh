# SPDX-License-Identifier: GPL-2.0-only
#
# TAP helpers for the shell tests (POSIX sh; source this file):
#   tap_result STATUS DESCRIPTION   "ok" when STATUS is 0, else "not ok"
#   tap_skip DESCRIPTION REASON     a skip, with its reason
#   tap_done                        the plan and the Totals line that
#                                   make check adds up; fails on failures
#   info_wait CTL NAME REGEX SECS   until shmstreamctl's info --json of
#                                   stream NAME matches REGEX
tap_n=0
tap_pass=0
tap_fail=0
tap_skipped=0

tap_result() {
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n $2"
		tap_pass=$((tap_pass + 1))
	else
		echo "not ok $tap_n $2"
		tap_fail=$((tap_fail + 1))
	fi
}

tap_skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n $1 # SKIP $2"
	tap_skipped=$((tap_skipped + 1))
}

tap_done() {
	echo "1..$tap_n"
	echo "# Totals: pass:$tap_pass fail:$tap_fail xfail:0 xpass:0 skip:$tap_skipped error:0"
	[ "$tap_fail" -eq 0 ]
}

# info_wait CTL NAME REGEX SECONDS: until "CTL info NAME --json", spaces
# and newlines dropped, matches REGEX (0); 1 once SECONDS have passed.
info_wait() {
	_iw_n=$(($4 * 10))
	while [ "$_iw_n" -gt 0 ]; do
		"$1" info "$2" --json 2>/dev/null | tr -d ' \n' | grep -q "$3" && return 0
		sleep 0.1
		_iw_n=$((_iw_n - 1))
	done
	return 1
}
