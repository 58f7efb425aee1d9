# shellcheck shell=bash
# CPU quota for the handshake_capped scenario (cgroup v1 "cpu" controller).
#
# With wrk and the backend saturating the load core, a new-connection run
# measures the load generator as much as the proxy: a proxy that answers
# faster leaves wrk fewer events per wakeup, so wrk spends more per
# connection. Holding the proxy to a share of its core makes the proxy the
# bottleneck, so handshakes/s then measures the proxy.

cpucap_root=/sys/fs/cgroup/cpu
cpucap_group=""
cpucap_home=""

# cpucap_init PERCENT: create this run's group; fails when cgroup v1's cpu
# controller is absent or not writable (then the scenario is skipped).
cpucap_init() {
  [ -w "$cpucap_root" ] && [ -e "$cpucap_root/tasks" ] || return 1
  # Threads go back to the group this shell is in, which need not be the root.
  local home
  home=$(sed -nE 's/^[0-9]+:([^:]*,)?cpu(,[^:]*)?:(.*)$/\3/p' /proc/$$/cgroup | head -1)
  cpucap_home="$cpucap_root${home%/}"
  [ -w "$cpucap_home/tasks" ] || return 1
  cpucap_group="$cpucap_home/phiguard-bench-$$"
  mkdir "$cpucap_group" 2>/dev/null || { cpucap_group=""; return 1; }
  echo 100000 > "$cpucap_group/cpu.cfs_period_us"
  echo $(($1 * 1000)) > "$cpucap_group/cpu.cfs_quota_us"
}

# cpucap_enter PID / cpucap_leave PID: move every thread of PID in or out.
cpucap_enter() { local t; for t in /proc/"$1"/task/*; do echo "${t##*/}" > "$cpucap_group/tasks"; done; }
cpucap_leave() { local t; for t in /proc/"$1"/task/*; do echo "${t##*/}" > "$cpucap_home/tasks" 2>/dev/null || true; done; }

# cpucap_remove: give every thread back to the home group, then remove ours.
cpucap_remove() {
  [ -n "$cpucap_group" ] && [ -d "$cpucap_group" ] || return 0
  local t
  while read -r t; do echo "$t" > "$cpucap_home/tasks" 2>/dev/null || true; done < "$cpucap_group/tasks"
  rmdir "$cpucap_group" 2>/dev/null || true
  cpucap_group=""
}
