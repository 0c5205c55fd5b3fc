#!/usr/bin/env bash
# Installs everything dposg needs on Debian 12 from Debian's own packages.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential cmake pkg-config \
  libeigen3-dev libspectra-dev libhdf5-dev hdf5-tools libboost-program-options-dev zlib1g-dev dataset-fashion-mnist \
  libomp-dev catch2 gnuplot-nox libbenchmark-dev libopenmpi-dev openmpi-bin \
  python3-h5py python3-numpy \
  python3-pandas python3-matplotlib python3-nbformat python3-nbclient python3-nbconvert python3-ipykernel \
  python3-xarray
# The PyTorch side of bench/'s speed comparisons (gan_torch.py, dcgan_torch.py), large: only on request.
if [ "${DPOSG_BENCH_TORCH:-0}" = 1 ]; then $SUDO apt-get install -y -q --no-install-recommends python3-torch; fi
