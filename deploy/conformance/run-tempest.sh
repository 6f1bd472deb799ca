#!/bin/bash
# run-tempest.sh — run a Tempest API group against a running Kumo (or any OpenStack) cloud.
# `./kumo conformance <group>` calls this; it can be run by hand too.
#
# Usage: run-tempest.sh GROUP [extra regex]
#   GROUP: identity | image | network | volume | compute | all   (selects the tests below)
# Environment:
#   OS_AUTH_URL (or KUMO_IDENTITY_URL)  identity endpoint, e.g. http://127.0.0.1:5000/v3
#   OS_USERNAME OS_PASSWORD OS_PROJECT_NAME OS_USER_DOMAIN_NAME  admin credentials
#   OS_REGION_NAME            (default RegionOne)
#   TEMPEST_WORKDIR           workspace (default /tmp/kumo-tempest-<group>); recreated each run
#   TEMPEST_SERVICES          services Tempest may use besides keystone, e.g. "glance neutron"
#                             (default: the group's own service)
#   TEMPEST_CONCURRENCY       parallel workers (default 2); TEMPEST_REGEX overrides the selection
#   TEMPEST_CONF_EXTRA        file of "section.key = value" lines applied last (image_ref, ...);
#                             default: deploy/conformance/GROUP.conf when it exists
#   TEMPEST_EXCLUDE_LIST      file of test regexes not to run (tempest run --exclude-list);
#                             default: deploy/conformance/GROUP.exclude when it exists
# Output: Tempest's own summary, then one line "N passed, N failed, N skipped"; exit status 0 only
# when nothing failed. Logs: $TEMPEST_WORKDIR/tempest.log (every request/response).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
GROUP=${1:-identity}
PY=/usr/bin/python3   # Debian's interpreter: the pyenv python3 on PATH cannot see tempest

command -v tempest >/dev/null || { echo "tempest is not installed: apt-get install -y tempest python3-openstackclient" >&2; exit 2; }
AUTH_URL=${OS_AUTH_URL:-${KUMO_IDENTITY_URL:-http://127.0.0.1:5000}}
AUTH_URL=${AUTH_URL%/}; AUTH_URL=${AUTH_URL%/v3}/v3
: "${OS_USERNAME:=admin}" "${OS_PROJECT_NAME:=admin}" "${OS_USER_DOMAIN_NAME:=Default}" "${OS_REGION_NAME:=RegionOne}"
[ -n "${OS_PASSWORD:-}" ] || { echo "OS_PASSWORD (the admin password) must be set" >&2; exit 2; }

case "$GROUP" in
  identity) REGEX='^tempest\.api\.identity\.(v3|admin\.v3)\.'; DEFAULT_SERVICES= ;;
  image)    REGEX='^tempest\.api\.image\.v2\.'; DEFAULT_SERVICES=glance ;;
  network)  REGEX='^tempest\.api\.network\.'; DEFAULT_SERVICES=neutron ;;
  volume)   REGEX='^tempest\.api\.volume\.'; DEFAULT_SERVICES="cinder glance" ;;
  compute)  REGEX='^tempest\.api\.compute\.'; DEFAULT_SERVICES="nova glance neutron cinder" ;;
  all)      REGEX='^tempest\.api\.(identity\.(v3|admin\.v3)|image\.v2|network|volume|compute)\.'; DEFAULT_SERVICES="nova glance neutron cinder" ;;
  *) echo "unknown group $GROUP (identity|image|network|volume|compute|all)" >&2; exit 2 ;;
esac
[ -n "${2:-}" ] && REGEX="$REGEX.*$2"
REGEX=${TEMPEST_REGEX:-$REGEX}
SERVICES=${TEMPEST_SERVICES-$DEFAULT_SERVICES}
WS=${TEMPEST_WORKDIR:-/tmp/kumo-tempest-$GROUP}
# Per-group settings Kumo needs (e.g. image.conf: disk formats whose content is plain bytes first).
if [ -z "${TEMPEST_CONF_EXTRA:-}" ] && [ -f "$HERE/$GROUP.conf" ]; then TEMPEST_CONF_EXTRA="$HERE/$GROUP.conf"; fi
# Tests that cannot apply to Kumo and that no Tempest option skips (GROUP.exclude says why for each).
if [ -z "${TEMPEST_EXCLUDE_LIST:-}" ] && [ -f "$HERE/$GROUP.exclude" ]; then TEMPEST_EXCLUDE_LIST="$HERE/$GROUP.exclude"; fi
EXCLUDE_ARGS=()
[ -n "${TEMPEST_EXCLUDE_LIST:-}" ] && EXCLUDE_ARGS=(--exclude-list "$TEMPEST_EXCLUDE_LIST")

# Floating IP and router gateway tests need the external network: `./kumo up` seeds one named public.
PUBLIC_NET=${TEMPEST_PUBLIC_NETWORK_ID:-}
if [ -z "$PUBLIC_NET" ] && [[ " $SERVICES " == *" neutron "* ]]; then
  PUBLIC_NET=$("$PY" -m openstackclient.shell network show public -f value -c id 2>/dev/null || true)
fi

rm -rf "$WS"
# Tempest keeps a registry of workspaces by name (~/.tempest/workspace.yaml); re-register ours.
WS_NAME="kumo-$(echo "$WS" | tr -c 'A-Za-z0-9\n' '-')"
tempest workspace remove --name "$WS_NAME" >/dev/null 2>&1 || true
tempest init --name "$WS_NAME" "$WS" >/dev/null
CONF="$WS/etc/tempest.conf"
# Compute tests boot servers: they need a real image id (the seeded kumo-test image by default).
IMAGE_REF=${TEMPEST_IMAGE_REF:-none}
if [ "$IMAGE_REF" = none ] && { [ "$GROUP" = compute ] || [ "$GROUP" = all ]; }; then
  IMAGE_REF=$(openstack image show "${TEMPEST_IMAGE_NAME:-kumo-test}" -f value -c id 2>/dev/null || echo none)
fi
sed -e "s/@@ADMIN_PASSWORD@@/${OS_PASSWORD//\//\\/}/" \
    -e "s/@@IMAGE_UUID@@/$IMAGE_REF/;s/@@IMAGE_UUID_ALT@@/$IMAGE_REF/" \
    -e 's/@@FLAVOR_ID@@/1/;s/@@FLAVOR_ID_ALT@@/2/' \
    -e "s/@@PUBLIC_NET_UUID@@/${PUBLIC_NET:-}/" \
    "$HERE/tempest.conf.template" > "$CONF"

# Point the template at this cloud and switch on the services under test.
"$PY" - "$CONF" "$AUTH_URL" "$OS_USERNAME" "$OS_PROJECT_NAME" "$OS_USER_DOMAIN_NAME" "$OS_REGION_NAME" "$SERVICES" "${TEMPEST_CONF_EXTRA:-}" <<'PYEOF'
import configparser, sys
path, uri, user, project, domain, region, services, extra = sys.argv[1:9]
c = configparser.RawConfigParser()
c.optionxform = str
c.read(path)
c.set('identity', 'uri_v3', uri)
c.set('identity', 'region', region)
c.set('auth', 'admin_username', user)
c.set('auth', 'admin_project_name', project)
c.set('auth', 'admin_domain_name', domain)
for svc in services.split():
    c.set('service_available', svc, 'true')
for sec in ('compute', 'image', 'network', 'volume'):
    if c.has_section(sec):
        c.set(sec, 'region', region)
if extra:
    for line in open(extra):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        key, value = (p.strip() for p in line.split('=', 1))
        sec, opt = key.rsplit('.', 1)
        if not c.has_section(sec):
            c.add_section(sec)
        c.set(sec, opt, value)
with open(path, 'w') as f:
    c.write(f)
PYEOF

cd "$WS"
echo "tempest: $GROUP against $AUTH_URL (regex $REGEX${TEMPEST_EXCLUDE_LIST:+, excluding $TEMPEST_EXCLUDE_LIST}, services: ${SERVICES:-keystone only}), workspace $WS"
set +e
tempest run --regex "$REGEX" "${EXCLUDE_ARGS[@]}" --concurrency "${TEMPEST_CONCURRENCY:-2}" > "$WS/run.out" 2>&1
RC=$?
set -e
grep -E '^\{[0-9]+\} .*(\.\.\. (FAILED|ok|SKIPPED)|FAILED)' "$WS/run.out" | grep -E 'FAILED' || true
sed -n '/^Totals/,$p' "$WS/run.out" | head -20
PASSED=$(sed -n 's/^ - Passed: \([0-9]*\).*/\1/p' "$WS/run.out" | tail -1)
FAILED=$(sed -n 's/^ - Failed: \([0-9]*\).*/\1/p' "$WS/run.out" | tail -1)
SKIPPED=$(sed -n 's/^ - Skipped: \([0-9]*\).*/\1/p' "$WS/run.out" | tail -1)
echo "${PASSED:-0} passed, ${FAILED:-0} failed, ${SKIPPED:-0} skipped"
[ "$RC" -eq 0 ] && [ "${FAILED:-0}" -eq 0 ] && [ -n "$PASSED" ]
