# SPDX-License-Identifier: GPL-2.0-only
#
# The module's leak check for the guest's shell tests (POSIX sh; source
# this file):
#   counters_zero   prints the debugfs counters as TAP comments; true when
#                   every one but the limits and the *_total tallies is 0
stats=/sys/kernel/debug/shmstream/stats
counters_zero() {
	[ -r "$stats" ] || { echo "# no $stats" >&2; return 1; }
	sed 's/^/# /' "$stats"
	! grep -Ev '^(pinned_limit_bytes|[a-z_]+_total):' "$stats" | grep -qv ': 0$'
}
