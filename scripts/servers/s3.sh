#!/usr/bin/env bash
# The s3rver S3 stand-in in the foreground (credentials S3RVER/S3RVER, path-style, no TLS), its objects under
# $FINETUNE_DATA/s3 (kept across restarts): the AppHost's executables mode runs it. Settings: FINETUNE_DATA,
# FINETUNE_S3_PORT. Installs s3rver when missing (scripts/infra-install.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/infra-install.sh
D=${FINETUNE_DATA:?FINETUNE_DATA names the folder for the server\'s data}/s3
mkdir -p "$D"
exec node .run/s3/node_modules/s3rver/bin/s3rver.js --address 127.0.0.1 --port "${FINETUNE_S3_PORT:?}" --directory "$D" \
  --silent
