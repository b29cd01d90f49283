#!/usr/bin/env bash
# One-shot, idempotent set-up on a fresh Debian 12 machine: system tools for RTL
# simulation/synthesis, then a project venv (.venv) with hwsim installed editable
# (HWSIM_EXTRAS=rtl,sweep,dev,timm,onnx also installs the model importers' PyTorch/timm/ONNX).
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
for tool in iverilog:iverilog yosys:yosys nextpnr-ice40:nextpnr-ice40 icepack:fpga-icestorm; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt+=("${tool##*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing Debian packages: ${need_apt[*]}" >&2
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# HWSIM_EXTRAS: the optional parts to install (CI adds the model importers: timm, onnx; see README)
extras="${HWSIM_EXTRAS:-rtl,sweep,dev}"
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ] || [ "$(cat .venv/.installed)" != "$extras" ]; then
  echo "setup: installing Python packages into .venv (extras: $extras)" >&2
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[$extras]"
  echo "$extras" > .venv/.installed
fi
