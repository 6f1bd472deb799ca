#!/bin/bash
# cli-workflow.sh — the compute workflow a new user runs, with the real `openstack` CLI, against a
# running Kumo (./kumo up). Every step must succeed; the script stops at the first failure.
#
# Usage: source .kumo/openrc-demo (or any openrc); services/compute/scripts/cli-workflow.sh
#   CLI_IMAGE   image to boot (default kumo-test)     CLI_FLAVOR  flavor (default m1.tiny)
#   CLI_RESIZE  flavor to resize to (default m1.small) CLI_NETWORK  --network value, or "none" for no --network flag (default none)
set -euo pipefail
OS=${OPENSTACK:-openstack}
IMAGE=${CLI_IMAGE:-kumo-test}
FLAVOR=${CLI_FLAVOR:-m1.tiny}
RESIZE=${CLI_RESIZE:-m1.small}
NET=${CLI_NETWORK:-none}
NAME=cli-vm-$$
SNAP=cli-snap-$$
n=0 pass=0
step() {
  n=$((n + 1))
  local t0; t0=$(date +%s%3N)
  printf '[%02d] %-58s ' "$n" "$1"
  shift
  local out
  if out=$("$@" 2>&1); then
    pass=$((pass + 1)); printf 'ok (%d ms)\n' $(( $(date +%s%3N) - t0 ))
  else
    printf 'FAILED\n%s\n' "$out" >&2; echo "$pass of $n steps passed" >&2; exit 1
  fi
}
status_is() { [ "$($OS server show "$NAME" -f value -c status)" = "$1" ]; }
wait_status() { local i; for i in $(seq 1 120); do status_is "$1" && return 0; sleep 0.5; done; $OS server show "$NAME" >&2; return 1; }
# CLI_NETWORK=none: the CLI asks for microversion 2.37 and sends "networks: none" (--nic none).
netarg=(--network "$NET"); [ "$NET" = none ] && netarg=(--os-compute-api-version 2.37 --nic none)
VOL=cli-vol-$$
has_address() { $OS server show "$NAME" -f json -c addresses | grep -q "\"$1\""; }
wait_address() { local i; for i in $(seq 1 60); do has_address "$1" && return 0; sleep 0.5; done; return 1; }
wait_no_address() { local i; for i in $(seq 1 60); do has_address "$1" || return 0; sleep 0.5; done; return 1; }
wait_volume() { local i; for i in $(seq 1 60); do [ "$($OS volume show "$1" -f value -c status)" = "$2" ] && return 0; sleep 0.5; done; return 1; }

step "server create --wait ($FLAVOR, $IMAGE, network $NET)" $OS server create --wait --flavor "$FLAVOR" --image "$IMAGE" "${netarg[@]}" "$NAME"
step "server list shows it ACTIVE" bash -c "$OS server list -f value -c Name -c Status | grep -qx '$NAME ACTIVE'"
step "server show" $OS server show "$NAME"
if [ "$NET" != none ]; then
  # Needs a router from the network to the external network `public` (./kumo up seeds it).
  FIP=$($OS floating ip create public -f value -c floating_ip_address 2>/dev/null || true)
  step "floating ip create public → $FIP" test -n "$FIP"
  step "server add floating ip" $OS server add floating ip "$NAME" "$FIP"
  step "server show lists the floating IP" bash -c "$(declare -f has_address wait_address); OS=$OS NAME=$NAME wait_address $FIP"
  step "server remove floating ip" $OS server remove floating ip "$NAME" "$FIP"
  step "server show no longer lists it" bash -c "$(declare -f has_address wait_no_address); OS=$OS NAME=$NAME wait_no_address $FIP"
  step "floating ip delete" $OS floating ip delete "$FIP"
fi
step "volume create --size 1 → available" bash -c "$OS volume create --size 1 $VOL >/dev/null && $(declare -f wait_volume); OS=$OS wait_volume $VOL available"
step "server add volume → in-use" bash -c "$OS server add volume $NAME $VOL && $(declare -f wait_volume); OS=$OS wait_volume $VOL in-use"
step "server remove volume → available" bash -c "$OS server remove volume $NAME $VOL && $(declare -f wait_volume); OS=$OS wait_volume $VOL available"
step "volume delete" $OS volume delete "$VOL"
step "server rescue → RESCUE" bash -c "$OS server rescue $NAME && $(declare -f status_is wait_status); OS=$OS NAME=$NAME wait_status RESCUE"
step "server unrescue → ACTIVE" bash -c "$OS server unrescue $NAME && $(declare -f status_is wait_status); OS=$OS NAME=$NAME wait_status ACTIVE"
step "server shelve → SHELVED_OFFLOADED" bash -c "$OS server shelve $NAME && $(declare -f status_is wait_status); OS=$OS NAME=$NAME wait_status SHELVED_OFFLOADED"
step "server unshelve → ACTIVE" bash -c "$OS server unshelve $NAME && $(declare -f status_is wait_status); OS=$OS NAME=$NAME wait_status ACTIVE"
step "server stop → SHUTOFF" bash -c "$OS server stop $NAME && $(declare -f status_is wait_status); OS=$OS NAME=$NAME wait_status SHUTOFF"
step "server start → ACTIVE" bash -c "$OS server start $NAME && $(declare -f status_is wait_status); OS=$OS NAME=$NAME wait_status ACTIVE"
step "server reboot --wait" $OS server reboot --wait "$NAME"
step "server reboot --hard --wait" $OS server reboot --hard --wait "$NAME"
step "server pause → PAUSED" bash -c "$OS server pause $NAME && $(declare -f status_is wait_status); OS=$OS NAME=$NAME wait_status PAUSED"
step "server unpause → ACTIVE" bash -c "$OS server unpause $NAME && $(declare -f status_is wait_status); OS=$OS NAME=$NAME wait_status ACTIVE"
step "server suspend → SUSPENDED" bash -c "$OS server suspend $NAME && $(declare -f status_is wait_status); OS=$OS NAME=$NAME wait_status SUSPENDED"
step "server resume → ACTIVE" bash -c "$OS server resume $NAME && $(declare -f status_is wait_status); OS=$OS NAME=$NAME wait_status ACTIVE"
step "server resize --flavor $RESIZE --wait" $OS server resize --flavor "$RESIZE" --wait "$NAME"
step "server resize confirm → ACTIVE" bash -c "$OS server resize confirm $NAME && $(declare -f status_is wait_status); OS=$OS NAME=$NAME wait_status ACTIVE"
step "flavor is now $RESIZE" bash -c "$OS server show $NAME -f value -c flavor | grep -q '$RESIZE'"
step "server image create --wait (snapshot uploaded)" $OS server image create --wait --name "$SNAP" "$NAME"
step "image $SNAP is active" bash -c "$OS image show $SNAP -f value -c status | grep -qx active"
step "console log show" bash -c "$OS console log show $NAME | grep -q ."
step "server event list" $OS server event list "$NAME"
step "server delete --wait" $OS server delete --wait "$NAME"
step "image delete $SNAP" $OS image delete "$SNAP"
echo "$pass of $n steps passed"
