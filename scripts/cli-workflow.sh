#!/bin/bash
# cli-workflow.sh — the Neutron workflow a new user tries, with the real `openstack` CLI, against a
# running Kumo (./kumo up). Uses the demo user (a plain project member) for everything except
# what needs admin; cleans up after itself. Exit status 0 only when every step worked.
#
# Usage: scripts/cli-workflow.sh [STATE_DIR]   (default ./.kumo; reads openrc-demo and openrc)
set -euo pipefail
STATE=${1:-${KUMO_STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.kumo}}
OS="/usr/bin/python3 -m openstackclient.shell"
SUFFIX=$RANDOM
step() { printf '\n\033[1m$ openstack %s\033[0m\n' "$*"; $OS "$@"; }
val() { $OS "$@" -f value -c id; }

set -a; . "$STATE/openrc-demo"; set +a
trap 'echo "FAILED at line $LINENO" >&2' ERR

step network create "cli-net-$SUFFIX"
step network list
step subnet create --network "cli-net-$SUFFIX" --subnet-range 10.77.0.0/24 --dns-nameserver 8.8.8.8 "cli-subnet-$SUFFIX"
step subnet create --network "cli-net-$SUFFIX" --ip-version 6 --ipv6-ra-mode slaac --ipv6-address-mode slaac --subnet-range 2001:db8:77::/64 "cli-subnet6-$SUFFIX"
step subnet pool create --pool-prefix 10.78.0.0/16 --default-prefix-length 26 "cli-pool-$SUFFIX"
step subnet create --network "cli-net-$SUFFIX" --subnet-pool "cli-pool-$SUFFIX" "cli-pooled-$SUFFIX"
step subnet pool list
step subnet list
step subnet set --name "cli-subnet-$SUFFIX-renamed" "cli-subnet-$SUFFIX"
step subnet show "cli-subnet-$SUFFIX-renamed"
step network set --description "made by cli-workflow" "cli-net-$SUFFIX"
step network show "cli-net-$SUFFIX"
step security group create --description web "cli-web-$SUFFIX"
step security group rule create --proto tcp --dst-port 22 --remote-ip 0.0.0.0/0 "cli-web-$SUFFIX"
step security group rule create --proto icmp --ingress --ethertype IPv4 "cli-web-$SUFFIX"
step security group rule list "cli-web-$SUFFIX"
step security group set --description "web and ssh" "cli-web-$SUFFIX"
step security group list
step port create --network "cli-net-$SUFFIX" --fixed-ip subnet="cli-subnet-$SUFFIX-renamed",ip-address=10.77.0.50 --security-group "cli-web-$SUFFIX" "cli-port-$SUFFIX"
step port list --network "cli-net-$SUFFIX"
step port set --name "cli-port-$SUFFIX-vm" --device-owner compute:nova "cli-port-$SUFFIX"
step port show "cli-port-$SUFFIX-vm"
step router create "cli-router-$SUFFIX"
step router add subnet "cli-router-$SUFFIX" "cli-subnet-$SUFFIX-renamed"
step router set --external-gateway public "cli-router-$SUFFIX"
step router set --route destination=192.168.50.0/24,gateway=10.77.0.254 "cli-router-$SUFFIX"
step router show "cli-router-$SUFFIX"
step router list
FIP=$(val floating ip create public)
echo "floating ip $FIP"
step floating ip set --port "cli-port-$SUFFIX-vm" "$FIP"
step floating ip show "$FIP"
step floating ip list
step floating ip unset --port "$FIP"
step floating ip delete "$FIP"
step availability zone list --network
step extension list --network
step router unset --route destination=192.168.50.0/24,gateway=10.77.0.254 "cli-router-$SUFFIX"
step router unset --external-gateway "cli-router-$SUFFIX"
step router remove subnet "cli-router-$SUFFIX" "cli-subnet-$SUFFIX-renamed"
step router delete "cli-router-$SUFFIX"
step port delete "cli-port-$SUFFIX-vm"
RULE=$($OS security group rule list "cli-web-$SUFFIX" --protocol tcp -f value -c ID | head -1)
step security group rule delete "$RULE"
step security group delete "cli-web-$SUFFIX"
step subnet delete "cli-subnet-$SUFFIX-renamed" "cli-subnet6-$SUFFIX" "cli-pooled-$SUFFIX"
step subnet pool delete "cli-pool-$SUFFIX"
step network delete "cli-net-$SUFFIX"

set -a; . "$STATE/openrc"; set +a
step network create --external --provider-network-type flat --provider-physical-network "cli-phys-$SUFFIX" "cli-ext-$SUFFIX"
step network show "cli-ext-$SUFFIX"
step network delete "cli-ext-$SUFFIX"
step quota set --networks 50 --ports 400 demo
step quota list --network --detail --project demo
step quota list --network
step network agent list
echo
echo "cli-workflow: every step passed"
