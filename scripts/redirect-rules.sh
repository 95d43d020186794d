#!/usr/bin/env bash
# redirect-rules.sh: install, remove or show the kernel rules that send workloads' outbound TCP
# connections to egressd. Never edit these rules by hand (docs/deployment.md).
#
# Usage: scripts/redirect-rules.sh install|remove|show [OPTIONS]
#
#   install   make the rules exactly what the options describe (idempotent: running it twice
#             leaves the same rules; running it with other options replaces the old ones). Each
#             table is replaced in one atomic iptables-restore transaction, so no packet ever sees
#             half a rule set.
#   remove    delete every chain, jump, ip rule and route this script installed (for --chain-prefix
#             and --tproxy-table); afterwards iptables-save shows what it showed before install.
#   show      print the installed rules (iptables -S format) and the TPROXY ip rules and routes.
#
# Modes:
#   --mode redirect (default)  nat table, REDIRECT to --port; the listener uses
#                              `destination: original_dst` (SO_ORIGINAL_DST).
#       --hook output          workloads on this host or in this network namespace (nat OUTPUT;
#                              e.g. containers sharing the gateway's network namespace). Needs
#                              --exclude-uid or --exclude-mark, or the gateway would loop.
#       --hook prerouting      routed workloads: this host is their gateway (nat PREROUTING).
#       --hook both            both of the above. Default: output.
#   --mode tproxy              mangle PREROUTING, TPROXY to --port with --tproxy-mark, plus
#                              `ip rule fwmark MARK lookup TABLE` and `local default dev lo` in
#                              TABLE; the listener uses `destination: tproxy`. Routed traffic only.
#
# Options (lists may be given as repeated options or comma-separated):
#   --port N                 the egressd listener port the traffic goes to (default 15001)
#   --family 4|6|both        IPv4 (iptables), IPv6 (ip6tables) or both (default both)
#   --exclude-uid UID|NAME   never redirect connections made by this user (the gateway's own user)
#   --exclude-mark MARK[/MASK]  never redirect packets carrying this mark (egressd's upstream.mark)
#   --exclude-port P[-Q]     never redirect connections to these destination ports
#   --include-port P[-Q]     redirect only connections to these destination ports
#   --exclude-cidr CIDR      never redirect connections to these destinations
#   --include-cidr CIDR      redirect only connections to these destinations (per family: with only
#                            IPv4 CIDRs given, no IPv6 connection is redirected)
#   --in-interface IF        prerouting/tproxy: only packets arriving on IF (iptables -i syntax,
#                            "veth+" matches every veth)
#   --tproxy-mark MARK[/MASK]  mark for TPROXY'd packets (default 0x1/0x1); must not match the
#                            gateway's own --exclude-mark
#   --tproxy-table N         routing table for TPROXY'd packets (default 100)
#   --on-ip ADDR             TPROXY --on-ip (one per family; default: the incoming interface's)
#   --chain-prefix NAME      chains are NAME-OUTPUT, NAME-PREROUTING, NAME-SELECT, NAME-DIVERT,
#                            NAME-SOCKET (default EGRESSD; letters, digits, underscore)
#   --backend auto|nft|legacy  which iptables to use (default auto: `iptables` as installed). In a
#                            container, use the host's backend.
#   --dry-run                print what would be done (iptables-restore input and ip commands);
#                            change nothing
#   -h, --help               this text
#
# Always excluded: non-TCP traffic and destinations that are addresses of this host (addrtype
# LOCAL): the gateway's own listener and admin ports on any of its addresses, and local services.
# Ports are deliberately not excluded for other hosts: "--port 15001 is never redirected" would let
# any workload bypass the gateway by talking to port 15001 anywhere. To let workloads reach other
# gateways' admin ports directly (e.g. Prometheus scraping every node), exclude those addresses
# (--exclude-cidr) or that port (--exclude-port) explicitly.
#
# Exit status: 0 done, 1 a command failed, 2 bad arguments.
set -euo pipefail
shopt -s inherit_errexit

PROG=redirect-rules.sh

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
die_usage() {
  echo "$PROG: error: $*" >&2
  echo "$PROG: run '$PROG --help' for usage" >&2
  exit 2
}
die() {
  echo "$PROG: error: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Arguments

command=""
mode=redirect
hook=""
port=15001
family=both
exclude_uids=()
exclude_marks=()
exclude_ports=()
include_ports=()
exclude_cidrs=()
include_cidrs=()
in_ifaces=()
tproxy_mark=0x1/0x1
tproxy_table=100
on_ip4=""
on_ip6=""
prefix=EGRESSD
backend=auto
dry_run=0

# Splits a comma-separated option value into the named array.
append_list() {
  local -n arr=$1
  local value=$2 opt=$3 item
  [[ -n $value ]] || die_usage "$opt needs a value"
  IFS=',' read -r -a items <<<"$value"
  for item in "${items[@]}"; do
    [[ -n $item ]] || die_usage "$opt: empty item in '$value'"
    arr+=("$item")
  done
}

while (($# > 0)); do
  arg=$1
  shift
  value=""
  has_value=0
  if [[ $arg == --*=* ]]; then
    value=${arg#*=}
    arg=${arg%%=*}
    has_value=1
  fi
  case $arg in
    install | remove | show)
      [[ -z $command ]] || die_usage "more than one command ('$command' and '$arg')"
      command=$arg
      continue
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    --dry-run)
      ((has_value == 0)) || die_usage "--dry-run takes no value"
      dry_run=1
      continue
      ;;
    --*) ;;
    *) die_usage "unknown command or argument '$arg' (commands: install, remove, show)" ;;
  esac
  if ((has_value == 0)); then
    (($# > 0)) || die_usage "$arg needs a value"
    value=$1
    shift
  fi
  case $arg in
    --mode) mode=$value ;;
    --hook) hook=$value ;;
    --port) port=$value ;;
    --family) family=$value ;;
    --exclude-uid) append_list exclude_uids "$value" "$arg" ;;
    --exclude-mark) append_list exclude_marks "$value" "$arg" ;;
    --exclude-port) append_list exclude_ports "$value" "$arg" ;;
    --include-port) append_list include_ports "$value" "$arg" ;;
    --exclude-cidr) append_list exclude_cidrs "$value" "$arg" ;;
    --include-cidr) append_list include_cidrs "$value" "$arg" ;;
    --in-interface) append_list in_ifaces "$value" "$arg" ;;
    --tproxy-mark) tproxy_mark=$value ;;
    --tproxy-table) tproxy_table=$value ;;
    --on-ip)
      if [[ $value == *:* ]]; then on_ip6=$value; else on_ip4=$value; fi
      ;;
    --chain-prefix) prefix=$value ;;
    --backend) backend=$value ;;
    *) die_usage "unknown option '$arg'" ;;
  esac
done

[[ -n $command ]] || die_usage "no command given (install, remove or show)"

# ---------------------------------------------------------------------------------------------
# Validation: every value is checked before anything is touched.

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && ((${#1} <= 10)); }

check_port() { # value option [allow_zero]
  local v=$1 opt=$2 min=1
  [[ ${3:-} == allow_zero ]] && min=0
  if ! is_uint "$v" || ((10#$v < min || 10#$v > 65535)); then
    die_usage "$opt: '$v' is not a port number ($min-65535)"
  fi
}

# "P" or "P-Q" → "P" or "P:Q" (iptables --dport syntax).
port_range() {
  local v=$1 opt=$2 lo hi
  if [[ $v =~ ^([0-9]+)-([0-9]+)$ ]]; then
    lo=${BASH_REMATCH[1]} hi=${BASH_REMATCH[2]}
    check_port "$lo" "$opt"
    check_port "$hi" "$opt"
    ((10#$lo <= 10#$hi)) || die_usage "$opt: range '$v' is empty (start > end)"
    echo "$((10#$lo)):$((10#$hi))"
  else
    check_port "$v" "$opt"
    echo "$((10#$v))"
  fi
}

# A mark "N" or "N/M" (decimal or 0x hex, 32 bits) → "0xN/0xM".
parse_mark() {
  local v=$1 opt=$2 val mask=0xffffffff part
  val=${v%%/*}
  [[ $v == */* ]] && mask=${v#*/}
  for part in "$val" "$mask"; do
    if ! [[ $part =~ ^(0[xX][0-9a-fA-F]{1,8}|[0-9]{1,10})$ ]] || ((part > 0xffffffff)); then
      die_usage "$opt: '$v' is not a mark (N or N/MASK, decimal or 0x hex, 32 bits)"
    fi
  done
  ((mask != 0)) || die_usage "$opt: '$v' has an empty mask"
  ((val & ~mask & 0xffffffff)) && die_usage "$opt: '$v' sets bits outside its mask"
  printf '0x%x/0x%x\n' "$((val))" "$((mask))"
}

# Prints 4 or 6 for a valid CIDR or address (prefix optional), or fails.
cidr_family() {
  local v=$1 addr len o
  addr=${v%/*}
  len=""
  [[ $v == */* ]] && len=${v#*/}
  if [[ $addr =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]]; then
    for o in "${BASH_REMATCH[@]:1}"; do ((10#$o <= 255)) || return 1; done
    [[ -z $len ]] || { is_uint "$len" && ((10#$len <= 32)); } || return 1
    echo 4
  elif [[ $addr == *:* && $addr =~ ^[0-9a-fA-F:.]+$ && $addr != *:::* ]]; then
    local dbl=${addr//[^:]/}
    [[ $addr != *::*::* ]] || return 1
    ((${#dbl} <= 7)) || return 1
    [[ -z $len ]] || { is_uint "$len" && ((10#$len <= 128)); } || return 1
    echo 6
  else
    return 1
  fi
}

case $mode in redirect | tproxy) ;; *) die_usage "--mode: '$mode' is not redirect or tproxy" ;; esac
case $family in 4 | 6 | both) ;; *) die_usage "--family: '$family' is not 4, 6 or both" ;; esac
case $backend in auto | nft | legacy) ;; *) die_usage "--backend: '$backend' is not auto, nft or legacy" ;; esac
[[ $prefix =~ ^[A-Za-z0-9_]{1,17}$ ]] ||
  die_usage "--chain-prefix: '$prefix' must be 1-17 letters, digits or underscores"
if [[ -z $hook ]]; then
  if [[ $mode == tproxy ]]; then hook=prerouting; else hook=output; fi
fi
case $hook in
  output | prerouting | both) ;;
  *) die_usage "--hook: '$hook' is not output, prerouting or both" ;;
esac
if [[ $mode == tproxy && $hook != prerouting ]]; then
  die_usage "--mode tproxy intercepts routed traffic only (mangle PREROUTING); for workloads on this host use --mode redirect --hook output"
fi
check_port "$port" --port
port=$((10#$port))
if ! is_uint "$tproxy_table" || ((10#$tproxy_table < 1 || 10#$tproxy_table > 4294967295)) ||
  ((10#$tproxy_table >= 253 && 10#$tproxy_table <= 255)); then
  die_usage "--tproxy-table: '$tproxy_table' is not a routing table number (1-4294967295, not 253-255)"
fi
tproxy_table=$((10#$tproxy_table))
tproxy_mark=$(parse_mark "$tproxy_mark" --tproxy-mark)
((${tproxy_mark%%/*} != 0)) || die_usage "--tproxy-mark: the mark must not be 0"

uids=()
for u in "${exclude_uids[@]}"; do
  if is_uint "$u"; then
    uids+=("$((10#$u))")
  elif [[ $u =~ ^[A-Za-z_][A-Za-z0-9_.-]*$ ]] && entry=$(getent passwd "$u"); then
    uids+=("$(cut -d: -f3 <<<"$entry")")
  else
    die_usage "--exclude-uid: '$u' is neither a uid nor a user known here (in a container, give the number)"
  fi
done
marks=()
for m in "${exclude_marks[@]}"; do
  m=$(parse_mark "$m" --exclude-mark)
  ((${m%%/*} != 0)) || die_usage "--exclude-mark: mark 0 is every unmarked packet; give egressd's upstream.mark"
  marks+=("$m")
  # ip rule "fwmark V/M" matches a packet whose mark P has (P & M) == V. egressd's upstream packets
  # carry P = the excluded mark; if they matched, they would be routed back to the gateway.
  tval=${tproxy_mark%%/*} tmask=${tproxy_mark#*/}
  if [[ $mode == tproxy ]] && (((${m%%/*} & tmask) == tval)); then
    die_usage "--exclude-mark $m matches --tproxy-mark $tproxy_mark: the gateway's own upstream traffic would be routed back to it"
  fi
done
xports=()
for p in "${exclude_ports[@]}"; do xports+=("$(port_range "$p" --exclude-port)"); done
iports=()
for p in "${include_ports[@]}"; do iports+=("$(port_range "$p" --include-port)"); done
declare -A cidrs_x=([4]="" [6]="") cidrs_i=([4]="" [6]="")
for c in "${exclude_cidrs[@]}"; do
  f=$(cidr_family "$c") || die_usage "--exclude-cidr: '$c' is not an IPv4 or IPv6 CIDR"
  cidrs_x[$f]+=" $c"
done
for c in "${include_cidrs[@]}"; do
  f=$(cidr_family "$c") || die_usage "--include-cidr: '$c' is not an IPv4 or IPv6 CIDR"
  cidrs_i[$f]+=" $c"
done
if [[ -n $on_ip4 ]]; then
  [[ $(cidr_family "$on_ip4" || true) == 4 && $on_ip4 != */* ]] || die_usage "--on-ip: '$on_ip4' is not an address"
fi
if [[ -n $on_ip6 ]]; then
  [[ $(cidr_family "$on_ip6" || true) == 6 && $on_ip6 != */* ]] || die_usage "--on-ip: '$on_ip6' is not an address"
fi
if [[ $command == install && -n ${include_cidrs[*]:-} ]]; then
  for f in 4 6; do
    if [[ -z ${cidrs_i[$f]} && ($family == both || $family == "$f") ]]; then
      echo "$PROG: warning: --include-cidr names no IPv$f CIDR: no IPv$f connection will be redirected" >&2
    fi
  done
fi
for i in "${in_ifaces[@]}"; do
  [[ $i =~ ^[A-Za-z0-9_.@:-]{1,15}\+?$ ]] || die_usage "--in-interface: '$i' is not an interface name"
done
if [[ ${#in_ifaces[@]} -gt 0 && $hook == output ]]; then
  die_usage "--in-interface applies to routed traffic (--hook prerouting or both, or --mode tproxy)"
fi
if [[ $command == install && $hook != prerouting && ${#uids[@]} -eq 0 && ${#marks[@]} -eq 0 ]]; then
  die_usage "--hook $hook redirects this host's own connections: give --exclude-uid (the gateway's user) and/or --exclude-mark (its upstream.mark), or the gateway's upstream connections would loop back to it"
fi

families=()
case $family in 4) families=(4) ;; 6) families=(6) ;; both) families=(4 6) ;; esac

# ---------------------------------------------------------------------------------------------
# Tools

ipt_bin() { # family [restore]
  local base=iptables
  [[ $1 == 6 ]] && base=ip6tables
  case $backend in
    auto) echo "$base${2:+-restore}" ;;
    *) echo "$base-$backend${2:+-restore}" ;;
  esac
}

run() { # prints in dry-run, executes otherwise
  if ((dry_run)); then
    printf '%s\n' "$*"
  else
    "$@"
  fi
}

have_tool() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------------
# The desired rules, as iptables-restore lines for one family and table. Empty = none.

CHAIN_RE="^${prefix}-(OUTPUT|PREROUTING|SELECT|DIVERT|SOCKET)\$"
COMMENT="egressd-redirect"

desired_chains() { # family table → chain names
  local t=$2
  if [[ $command != install ]]; then return; fi
  if [[ $mode == redirect && $t == nat ]]; then
    [[ $hook == output || $hook == both ]] && echo "$prefix-OUTPUT"
    [[ $hook == prerouting || $hook == both ]] && echo "$prefix-PREROUTING"
    echo "$prefix-SELECT"
    echo "$prefix-DIVERT"
  elif [[ $mode == tproxy && $t == mangle ]]; then
    echo "$prefix-PREROUTING"
    echo "$prefix-SOCKET"
    echo "$prefix-SELECT"
    echo "$prefix-DIVERT"
  fi
  return 0
}

desired_rules() { # family table → "-A ..." lines (chain contents), then "-I ..." jump lines
  local f=$1 t=$2 u m c p i
  [[ -n $(desired_chains "$f" "$t") ]] || return 0
  if [[ $t == nat ]]; then
    if [[ $hook == output || $hook == both ]]; then
      for u in "${uids[@]}"; do echo "-A $prefix-OUTPUT -m owner --uid-owner $u -j RETURN"; done
      for m in "${marks[@]}"; do echo "-A $prefix-OUTPUT -m mark --mark $m -j RETURN"; done
      echo "-A $prefix-OUTPUT -m addrtype --dst-type LOCAL -j RETURN"
      echo "-A $prefix-OUTPUT -j $prefix-SELECT"
    fi
    if [[ $hook == prerouting || $hook == both ]]; then
      for m in "${marks[@]}"; do echo "-A $prefix-PREROUTING -m mark --mark $m -j RETURN"; done
      echo "-A $prefix-PREROUTING -m addrtype --dst-type LOCAL -j RETURN"
      if ((${#in_ifaces[@]})); then
        for i in "${in_ifaces[@]}"; do echo "-A $prefix-PREROUTING -i $i -j $prefix-SELECT"; done
      else
        echo "-A $prefix-PREROUTING -j $prefix-SELECT"
      fi
    fi
  else
    # Packets of connections already taken over by the gateway's transparent socket: route them
    # to it without looking at the rest (the kernel's tproxy.txt recipe).
    echo "-A $prefix-PREROUTING -p tcp -m socket --transparent -j $prefix-SOCKET"
    echo "-A $prefix-SOCKET -j MARK --set-xmark $tproxy_mark"
    echo "-A $prefix-SOCKET -j ACCEPT"
    for m in "${marks[@]}"; do echo "-A $prefix-PREROUTING -m mark --mark $m -j RETURN"; done
    echo "-A $prefix-PREROUTING -m addrtype --dst-type LOCAL -j RETURN"
    if ((${#in_ifaces[@]})); then
      for i in "${in_ifaces[@]}"; do echo "-A $prefix-PREROUTING -i $i -j $prefix-SELECT"; done
    else
      echo "-A $prefix-PREROUTING -j $prefix-SELECT"
    fi
  fi
  for c in ${cidrs_x[$f]}; do echo "-A $prefix-SELECT -d $c -j RETURN"; done
  for p in "${xports[@]}"; do echo "-A $prefix-SELECT -p tcp --dport $p -j RETURN"; done
  if ((${#iports[@]})); then
    for p in "${iports[@]}"; do echo "-A $prefix-SELECT -p tcp --dport $p -j $prefix-DIVERT"; done
  else
    echo "-A $prefix-SELECT -j $prefix-DIVERT"
  fi
  local action
  if [[ $t == nat ]]; then
    action="REDIRECT --to-ports $port"
  else
    local on_ip=$on_ip4
    [[ $f == 6 ]] && on_ip=$on_ip6
    action="TPROXY --on-port $port${on_ip:+ --on-ip $on_ip} --tproxy-mark $tproxy_mark"
  fi
  if [[ -n ${include_cidrs[*]:-} ]]; then
    for c in ${cidrs_i[$f]}; do echo "-A $prefix-DIVERT -p tcp -d $c -j $action"; done
  else
    echo "-A $prefix-DIVERT -p tcp -j $action"
  fi
  # Jumps from the built-in chains, first in them (before e.g. Docker's own nat rules).
  if [[ $t == nat ]]; then
    [[ $hook == output || $hook == both ]] &&
      echo "-I OUTPUT 1 -p tcp -m comment --comment $COMMENT -j $prefix-OUTPUT"
    [[ $hook == prerouting || $hook == both ]] &&
      echo "-I PREROUTING 1 -p tcp -m comment --comment $COMMENT -j $prefix-PREROUTING"
  else
    echo "-I PREROUTING 1 -p tcp -m comment --comment $COMMENT -j $prefix-PREROUTING"
  fi
  return 0
}

# The current state of one family and table: "-N chain" lines of our chains and "-A BUILTIN ..."
# jump lines into them. Fails when the table cannot be read.
current_state() { # family table
  local ipt out line
  ipt=$(ipt_bin "$1")
  out=$("$ipt" -w -t "$2" -S 2>&1) || {
    echo "$out" >&2
    return 1
  }
  while IFS= read -r line; do
    if [[ $line =~ ^-N\ ([^ ]+)$ && ${BASH_REMATCH[1]} =~ $CHAIN_RE ]]; then
      echo "$line"
    elif [[ $line =~ ^-A\ (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING)\ .*-j\ ([^ ]+)( |$) ]] &&
      [[ ${BASH_REMATCH[2]} =~ $CHAIN_RE ]]; then
      echo "$line"
    fi
  done <<<"$out"
}

# Builds the iptables-restore input that turns the current state into the desired one.
plan_table() { # family table → restore text (empty when there is nothing to do)
  local f=$1 t=$2 state="" line c note=""
  local -a chains=() existing=() jumps=()
  if ((dry_run)) && ! state=$(current_state "$f" "$t" 2>/dev/null); then
    state=""
    note="# (the current IPv$f $t rules are unreadable here: shown as if none were installed)"
  elif ((!dry_run)); then
    state=$(current_state "$f" "$t") || die "cannot read the IPv$f $t table with $(ipt_bin "$f")"
  fi
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    if [[ $line == -N* ]]; then existing+=("${line#-N }"); else jumps+=("$line"); fi
  done <<<"$state"
  mapfile -t chains < <(desired_chains "$f" "$t")
  ((${#chains[@]} + ${#existing[@]} > 0)) || return 0
  [[ -z $note ]] || echo "$note"
  echo "*$t"
  # Declaring a chain under --noflush creates it or flushes it.
  for c in "${chains[@]}" "${existing[@]}"; do echo ":$c - [0:0]"; done | sort -u
  for line in "${jumps[@]}"; do echo "-D ${line#-A }"; done
  for c in "${existing[@]}"; do
    printf '%s\n' "${chains[@]}" | grep -qxF -- "$c" || echo "-X $c"
  done
  desired_rules "$f" "$t"
  echo "COMMIT"
}

apply_table() { # family table
  local f=$1 t=$2 text restore
  text=$(plan_table "$f" "$t")
  [[ -n $text ]] || return 0
  restore=$(ipt_bin "$f" restore)
  if ((dry_run)); then
    echo "$restore -w --noflush <<'EOF'"
    echo "$text"
    echo "EOF"
  else
    # A restore is one transaction: when it fails nothing changed. iptables-nft 1.8.9 now and then
    # refuses a --noflush restore that declares (flushes) a chain it then refers to ("Chain ...
    # does not exist", its cache and the kernel's ruleset disagreeing); the same input is accepted
    # on a second try. So: plan again from the current state and retry, twice at most, and show
    # the error only when every try failed.
    local try err
    for try in 1 2 3; do
      if err=$(printf '%s\n' "$text" | "$restore" -w --noflush 2>&1); then
        return 0
      fi
      ((try < 3)) || break
      sleep 0.2
      text=$(plan_table "$f" "$t")
      [[ -n $text ]] || return 0
    done
    printf '%s\n' "$err" >&2
    die "$restore rejected the IPv$f $t rules (its error is above; 3 tries); nothing was changed in that table"
  fi
}

# ---------------------------------------------------------------------------------------------
# TPROXY policy routing: `ip rule fwmark MARK lookup TABLE` and `local default dev lo table TABLE`.

ip_rules_for_table() { # family → our rules, as "ip rule del" arguments
  ip "-$1" rule show 2>/dev/null | sed -n "s/^[0-9]*:[[:space:]]*from all fwmark \([^ ]*\) lookup $tproxy_table\b.*/\1/p"
}

# `ip rule show` omits a full mask: 0x1/0xffffffff is shown as 0x1.
shown_mark() { if [[ ${1#*/} == 0xffffffff ]]; then echo "${1%%/*}"; else echo "$1"; fi; }

apply_routing() { # family
  local f=$1 m want_rule=0 found=0 default=0.0.0.0/0
  [[ $f == 6 ]] && default=::/0
  [[ $command == install && $mode == tproxy ]] && want_rule=1
  while IFS= read -r m; do
    [[ -n $m ]] || continue
    if ((want_rule && found == 0)) && [[ $m == "$tproxy_mark" || $m == "$(shown_mark "$tproxy_mark")" ]]; then
      found=1
      continue
    fi
    run ip "-$f" rule del fwmark "$m" lookup "$tproxy_table"
  done < <(ip_rules_for_table "$f")
  if ((want_rule)); then
    ((found)) || run ip "-$f" rule add fwmark "$tproxy_mark" lookup "$tproxy_table"
    run ip "-$f" route replace local "$default" dev lo table "$tproxy_table" ||
      die "cannot add 'local $default dev lo table $tproxy_table' (is the loopback interface up?)"
  elif ip "-$f" route show table "$tproxy_table" 2>/dev/null | grep -q '^local default dev lo'; then
    run ip "-$f" route del local "$default" dev lo table "$tproxy_table"
  fi
}

# ---------------------------------------------------------------------------------------------

check_tools() { # family
  local t
  for t in "$(ipt_bin "$1")" "$(ipt_bin "$1" restore)"; do
    have_tool "$t" || die "$t not found (Debian: apt-get install iptables)"
  done
  have_tool ip || die "ip not found (Debian: apt-get install iproute2)"
}

show_family() { # family
  local f=$1 ipt t line
  ipt=$(ipt_bin "$f")
  for t in nat mangle; do
    echo "# IPv$f $t"
    "$ipt" -w -t "$t" -S | while IFS= read -r line; do
      if [[ $line =~ ^-[NA]\ ([^ ]+) && ${BASH_REMATCH[1]} =~ $CHAIN_RE ]] ||
        [[ $line =~ -j\ ([^ ]+)( |$) && ${BASH_REMATCH[1]} =~ $CHAIN_RE ]]; then
        echo "$line"
      fi
    done
  done
  echo "# IPv$f ip rule (table $tproxy_table)"
  ip "-$f" rule show | grep -E "lookup $tproxy_table( |\$)" || true
  echo "# IPv$f ip route table $tproxy_table"
  ip "-$f" route show table "$tproxy_table" 2>/dev/null || true
}

case $command in
  show)
    for f in "${families[@]}"; do
      check_tools "$f"
      show_family "$f"
    done
    ;;
  install | remove)
    # install also removes what a different earlier install left in the families not asked for.
    for f in 4 6; do
      selected=0
      for g in "${families[@]}"; do [[ $g == "$f" ]] && selected=1; done
      if ((!selected)); then
        # Not asked for: clean it up if its tools exist (nothing can be installed otherwise).
        have_tool "$(ipt_bin "$f")" || continue
        saved_command=$command
        command=remove
        apply_table "$f" nat
        apply_table "$f" mangle
        apply_routing "$f"
        command=$saved_command
        continue
      fi
      if [[ $command == remove ]] && ! have_tool "$(ipt_bin "$f")"; then continue; fi
      ((dry_run)) || check_tools "$f"
      # Order so that no connection slips through while rules change: the TPROXY routing exists
      # before packets are marked, and the new redirect is in place before the old one goes
      # (switching between redirect and tproxy replaces one table's rules, then the other's).
      if [[ $command == install && $mode == tproxy ]]; then
        apply_routing "$f"
        apply_table "$f" mangle
        apply_table "$f" nat
      else
        apply_table "$f" nat
        apply_table "$f" mangle
        apply_routing "$f"
      fi
    done
    ;;
esac
