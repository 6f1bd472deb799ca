#!/bin/sh
# One-shot container: create every service's schema, apply migrations, seed identity.
set -e
for s in identity image network volume compute; do
  node "services/$s/dist/main.js" migrate
done
node services/identity/dist/main.js bootstrap
