#!/usr/bin/env bash
# Checks the Prometheus configuration and alert rules, then runs their unit tests.
set -euo pipefail
cd "$(dirname "$0")/../deploy"
promtool check config prometheus/prometheus.yml
promtool check config --syntax-only compose/prometheus.yml
promtool check rules prometheus/alerts.yml
(cd prometheus && promtool test rules alerts_test.yml)
