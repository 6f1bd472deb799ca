#!/usr/bin/python3
"""Dumps the Tempest (Debian package) compute response schemas the tests validate against into
tempest-schemas.json, so the jest tests need no Python. Re-run after a Tempest upgrade:
    /usr/bin/python3 services/compute/test/tempest/export-schemas.py
Without the python3-tempest package installed, unpack it and point PYTHONPATH at it:
    apt-get download python3-tempest && dpkg -x python3-tempest_*.deb /tmp/tempest
    PYTHONPATH=/tmp/tempest/usr/lib/python3/dist-packages /usr/bin/python3 services/compute/test/tempest/export-schemas.py
"""
import copy, json, os, re
from tempest.lib.api_schema.response.compute.v2_1 import (servers, flavors, flavors_access, flavors_extra_specs,
    keypairs, limits, quotas, availability_zone, hypervisors, services, server_groups, versions, tenant_usages,
    security_groups, quota_classes, migrations, interfaces, aggregates, floating_ips, hosts, instance_usage_audit_logs,
    extensions, tenant_networks, server_external_events, images, volumes, snapshots)
import importlib, pkgutil
import tempest.lib.api_schema.response.compute as compute_schemas

out = {}
def put(name, schema):
    body = schema.get('response_body')
    if body is not None:
        # Copied now: importing the later microversion modules mutates some v2_1 dicts in place.
        out[name] = copy.deepcopy({'status_code': schema.get('status_code'), 'response_body': body})

for mod in (servers, flavors, flavors_access, flavors_extra_specs, keypairs, limits, quotas, availability_zone, hypervisors, services, server_groups, versions, tenant_usages,
            security_groups, quota_classes, migrations, interfaces, aggregates, floating_ips, hosts, instance_usage_audit_logs,
            extensions, tenant_networks, server_external_events, images, volumes, snapshots):
    short = mod.__name__.rsplit('.', 1)[1]
    for k, v in vars(mod).items():
        if isinstance(v, dict) and 'status_code' in v:
            put(f'{short}.{k}', v)

# Microversioned overrides up to the highest version Kumo implements (2.59 as far as built; a later one may be raised here), as `v2_N/module.name`.
for info in pkgutil.iter_modules(compute_schemas.__path__):
    m = re.fullmatch(r'v2_(\d+)', info.name)
    if not m or int(m.group(1)) == 1 or int(m.group(1)) > 59:
        continue
    pkg = importlib.import_module(f'{compute_schemas.__name__}.{info.name}')
    for sub in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f'{pkg.__name__}.{sub.name}')
        for k, v in vars(mod).items():
            if isinstance(v, dict) and 'status_code' in v:
                put(f'{info.name}/{sub.name}.{k}', v)

def fix(o):
    # Python regexes in patternProperties/pattern use \Z etc.; JS needs $.
    if isinstance(o, dict):
        return {k: fix(v) for k, v in o.items()}
    if isinstance(o, list):
        return [fix(v) for v in o]
    if isinstance(o, str):
        return o.replace('\\Z', '$')
    return o

with open(os.path.join(os.path.dirname(__file__), 'tempest-schemas.json'), 'w') as f:
    json.dump(fix(out), f, indent=1, sort_keys=True)
print(len(out), 'schemas')
